"""The tools around the core: the command, the demo's run, the series run and published.

They import the core (``tchexnet_lib``) and the tools of the lines above their own, never
the reverse: no core module imports a tool (``tests/test_layout.py`` keeps this map true).

1. ``hosted``, ``pretrain``, ``runner``, ``doctor``, ``reproduce``: the Colab, Kaggle and
   Binder links and the hosted install line; the demo CheXNet, pretrained once on synthetic
   ChestX-ray14-shaped data; the notebooks run headless and copied for a learner; a setup
   checked (software, data, weights, speed, disk) before a long run; the paper on real
   CheXpert in one resumable, shardable command.
2. ``demo``, ``student``: the whole study on the demo data (and its ablation); the student
   edition (no answer) and each notebook's instructor page.
3. ``site``, ``workshop``: the series as a static website (and its student edition); the
   instructor edition with the workshop's clock (minutes per section).
4. ``cli``: the ``tchexnet`` command.
"""
