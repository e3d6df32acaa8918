"""tchexnet_lib: the library behind the tCheXNet tutorial series.

Two blocks. The **core**, at the top of the package, is what the lessons read: the data, the
models, the features, the training, the statistics and the figures. The **tools**, in
:mod:`tchexnet_lib.tools`, run the core for people: the command, the demo's run, the
notebooks run headless, the reproduction, the site, the student edition. The tools import the
core, never the reverse, and no notebook imports a tool (``tests/test_layout.py``).

The map of the core's rooms, one stage per numbered line. A module imports only modules of
the lines above its own (``tests/test_layout.py`` keeps this map true, and every module lists
its public names in ``__all__``; the tools have their own map in :mod:`tchexnet_lib.tools`):

0. ``errors``: every error about the user's files, and a missing TensorFlow (the extra to
   install).
1. ``files``, ``labels``, ``backbones``, ``evaluation``, ``runtime``: atomic writes, locks
   and sha256 digests; CheXpert's and ChestX-ray14's label names; the backbone table
   (everything that depends on the network); AUC, DeLong and model comparisons on arrays; the
   devices TensorFlow computes on (one strategy per device set) and tf.data without its
   autotuning thread.
2. ``config``, ``machine``, ``operating``, ``score_files``, ``power``: the working folder
   (a checkout, else ``$TCHEXNET_HOME`` or ``./tchexnet-work/``), data, weights and output
   folders, what the wheel carries (the series, the demo CheXNet), seeds, the preprocessing
   settings, paths as shown, progress bars; what host this is and its model-bound img/s;
   operating points, thresholds, PR and calibration curves; reading score files; what a test
   set of 7 positives can show (resampling, power).
3. ``data``: CheXpert's CSVs read and checked, uncertainty policies, view filters, writing.
4. ``splits``, ``images``: the paper's recipe and the patient split; image files checked,
   decoded and preprocessed, and streamed as batches.
5. ``models``: CheXNet and tCheXNet as flat Keras models, and their weight files.
6. ``features``, ``gradcam``: the feature store (extract once, resume, shard); Grad-CAM and
   its localisation scores.
7. ``training``, ``plotting``, ``camplots``: the head on cached features (and the
   fine-tune); the figures; Grad-CAM's figures.
8. ``synthetic``, ``widgets``, ``check``: the synthetic CheXpert-shaped demo data (a
   subpackage with its own map); the ROC explorer; feedback on the notebooks' exercises.
9. ``shipped``: the demo CheXNet the project ships, found and checked.
10. ``pipeline``: the study (``Study``, saved as ``study.json``) and its steps.
11. ``localisation``, ``notebooks``: where tCheXNet looks on the demo's images (against the
    drawn masks, the peaks' places, the tube ablation); the helpers the notebooks share (the
    setup report, the scored test split, the paper's published scores).
12. ``results``: a study's result built once (the test set, each model's AUC and interval,
    the paired DeLong test of every pair, Grad-CAM, the timings) and rendered by one text
    and one JSON function (``summary.json``, read back from earlier versions' files too).
13. ``tools``: the tools (their own map in :mod:`tchexnet_lib.tools`).

Importing the package has no side effects: TensorFlow is imported only by the functions
that need it, seeds and styles are set by explicit calls. What a learner must see (progress
of long steps, a recomputation, a skipped input) is printed, behind ``progress=`` where it
is progress; diagnostics for whoever debugs go to :mod:`logging`.
"""

__version__ = "0.1.0"
