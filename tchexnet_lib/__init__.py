"""tchexnet_lib: the library behind the tCheXNet tutorial series.

Modules follow the pipeline, one stage each (see the README):
``config`` → ``labels`` → ``data`` → ``images`` → ``models`` → ``cli``.
Importing the package has no side effects: TensorFlow is only imported by the
modules that need it, seeds and styles are set by explicit calls.
"""

__version__ = "0.1.0"
