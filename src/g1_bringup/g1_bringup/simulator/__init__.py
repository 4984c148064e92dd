"""The MuJoCo G1 simulator: a pure physics core (``sim_core``) and its Unitree DDS / ROS shell
(``mujoco_sim``), which speaks the real robot's LowCmd/LowState protocol."""
