"""Teacher PPO and student DAgger-PPO on rsl-rl-lib 5.x (extensions, not forks), TWIST networks,
typed configs and export."""
