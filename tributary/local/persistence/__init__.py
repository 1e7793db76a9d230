"""Local state that survives: `tributary up` keeps moto's state and the executions of the Step
Functions engine in its folder (see tributary/local/README.md, "Local state")."""
