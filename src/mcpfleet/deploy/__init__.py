"""Render, check and run the AWS deployment of an mcpfleet app.

``mcpfleet deploy render`` turns what an app declares (the AWS permissions of its
tools, the secrets it reads) and how it runs (port, health paths, drain timing,
keep-alive interval, fleet state) into CloudFormation for one of four targets:
ECS Fargate behind an ALB, ECS Express, App Runner or Lambda.
"""
