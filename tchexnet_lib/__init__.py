"""tchexnet_lib: the library behind the tCheXNet tutorial series.

The map of its rooms, one stage per numbered line. A module imports only modules of the
lines above its own (``tests/test_layout.py`` keeps this map true, and every module
lists its public names in ``__all__``):

0. ``errors``, ``files``, ``labels``, ``backbones``, ``evaluation``: every error about the
   user's files; atomic writes and sha256 digests; CheXpert's and ChestX-ray14's label
   names; the backbone table (everything that depends on the network); AUC, DeLong and
   model comparisons on arrays.
1. ``config``, ``machine``, ``operating``, ``score_files``, ``power``: data, weights and
   output folders, seeds, the preprocessing settings, paths as shown, progress bars; what host
   this is and its model-bound img/s; operating points, thresholds, PR and calibration
   curves; reading score files; what a test set of 7 positives can show (resampling, power).
2. ``data``: CheXpert's CSVs read and checked, uncertainty policies, view filters, writing.
3. ``splits``, ``images``: the paper's recipe and the patient split; image files checked,
   decoded and preprocessed, and streamed as batches.
4. ``models``: CheXNet and tCheXNet as flat Keras models, and their weight files.
5. ``features``, ``gradcam``: the feature store (extract once, resume, shard); Grad-CAM and
   its localisation scores.
6. ``training``, ``plotting``: the head on cached features (and the fine-tune); the figures.
7. ``synthetic``, ``widgets``, ``check``: the synthetic CheXpert-shaped demo data (a
   subpackage with its own map); the ROC explorer; feedback on the notebooks' exercises.
8. ``pretrain``: the demo CheXNet, pretrained on synthetic ChestX-ray14-shaped data.
9. ``pipeline``: the study (``Study``, saved as ``study.json``) and its steps.
10. ``demo``, ``notebooks``, ``reproduce``, ``doctor``: the whole study on the demo data;
    running the notebooks; the paper on real CheXpert in one resumable, shardable command;
    checking a setup (software, data, weights, speed, disk) before a long run.
11. ``student``: the student edition (no answer) and each notebook's instructor page.
12. ``site``, ``workshop``: the series as a static website (and its student edition); the
    instructor edition with the workshop's clock (minutes per section).
13. ``cli``: the ``tchexnet`` command.

Importing the package has no side effects: TensorFlow is imported only by the functions
that need it, seeds and styles are set by explicit calls. What a learner must see (progress
of long steps, a recomputation, a skipped input) is printed, behind ``progress=`` where it
is progress; diagnostics for whoever debugs go to :mod:`logging`.
"""

__version__ = "0.1.0"
