"""Entry points: the papermill runner, the run summary, and the reward module verl loads."""
