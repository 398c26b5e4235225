"""Render, check and run the AWS deployment of an mcpfleet app.

``mcpfleet deploy render`` turns what an app declares (the AWS permissions of its
tools, the secrets it reads) and how it runs (port, health paths, drain timing,
keep-alive interval, fleet state) into CloudFormation for one of four targets:
ECS Fargate behind an ALB, ECS Express, App Runner or Lambda. Each puts the app on the
internet, so it also says who may call (``access``): an OAuth identity provider (a new
Cognito user pool, or one the user has), the app's own authenticate hook, or ``--public``;
``--waf`` adds an AWS WAF web ACL in front.
"""
