"""Distil a deployable CMG + TWIST-layout student from the walking expert, by DAgger, on a CPU.

* :mod:`.config` — :class:`DistillConfig` (flat dataclass: YAML, ``--flags``);
* :mod:`.reference` — the shipped CMG batched over envs: the reference each student observes;
* :mod:`.teacher` — the holosoma expert as teacher: batched ONNX, its response curve inverted,
  its gait clock driven from the CMG phase;
* :mod:`.env` — the batched MuJoCo velocity task (expert gains, friction randomization, pushes);
* :mod:`.calibrate` — measures the expert's speed response and its phase offset to the CMG;
* :mod:`.dagger` — the DAgger loop (mixing schedule, aggregated data, checkpoints, export).
"""
