"""Render, check and run the AWS deployment of an mcpfleet app.

``mcpfleet deploy render`` turns what an app declares (the AWS permissions of its
tools, the secrets it reads) and how it runs (port, health paths, the ECS drain
contract, keep-alives, fleet state) into CloudFormation for one of four targets:
ECS Fargate behind an ALB, ECS Express, App Runner or Lambda. ``settings`` holds the
relations between the numbers; ``ecs``, ``edge``, ``ecs_ops``, ``alarms``,
``dashboard`` and ``cache`` build the Fargate stack, ``managed`` and ``function`` the
others. ``deploy up`` pins the image to its digest (``stack.pin_image``). Each puts the app on the
internet, so it also says who may call (``access``): an OAuth identity provider (a new
Cognito user pool, or one the user has), the app's own authenticate hook, or ``--public``;
``--waf`` adds an AWS WAF web ACL in front.
"""
