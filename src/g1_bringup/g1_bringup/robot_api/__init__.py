"""Unitree's own RPC services, served by our simulator and our stack.

Unitree's SDK clients (``unitree_sdk2py`` / ``unitree_sdk2``) talk to the robot's services over DDS
request/response topics ``rt/api/<service>/{request,response}`` (``unitree_api`` ``Request_`` /
``Response_``, a JSON ``parameter`` string in, a status code and a JSON ``data`` string out). Two of
them matter to users who bring scripts written against Unitree's SDK:

* ``motion_switcher`` (:mod:`.switcher_core`): which high-level controller owns the motors. Unitree's
  low-level examples release it before they publish ``rt/lowcmd``. The simulator serves it.
* ``sport`` (:mod:`.loco_core`): the G1 locomotion API of ``LocoClient`` (``Move``, ``Damp``,
  ``SetFsmId``...). :mod:`.loco_node` serves it from our stack: velocities become ``/cmd_vel`` for the
  CMG + policy, FSM ids become pd_bridge modes.

The cores are pure Python (no rclpy, no DDS) and unit-tested; :mod:`.dds_service` (the SDK's own
``Server`` class) and :mod:`.loco_node` are thin shells around them.
"""
