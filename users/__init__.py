"""People who hold accounts: sign-up and password hashing."""
