"""One package per experiment kind, each with the same roles where they apply:

  run.py      setup, training loop, resume, evaluation: run(config, workdir)
  steps.py    the pure, jitted steps (state, batch, rng -> state, metrics)
  report.py   results.json's markdown, figures, report.md

  dataset/     the long-tailed, transformed data set alone
  classifier/  long-tail baselines and GIT in the train step, eKLD;
               branch.py: start from a sibling's state at the DRS switch
  munit/       MUNIT (optionally unrolled D); learned_transform.py: what a
               generator learned (transform recovery, labels kept)
  git/         the staged GIT study (dataset -> MUNIT -> classifiers -> report);
               layout.py: where its stages live
  maml/        MAML and variants; study.py: the invariance-transfer study
  ring/        the unrolled GAN on a ring of Gaussians

Imports run one way: experiments use data/, models/, runtime/, losses,
bilevel and invariance, never the reverse (tests/test_imports.py).
"""
