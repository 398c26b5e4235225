"""Real authorization servers for the auth tests: an Authlib OAuth 2.1 server in a
child process (:mod:`.oauth_server`) and Amazon Cognito as moto serves it (:mod:`.cognito`)."""
