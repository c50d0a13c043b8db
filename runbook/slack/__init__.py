"""Everything Slack: the run's reporter, its messages, the Socket Mode bot, approval in Slack, slash commands.

The only place in the product that imports `slack_sdk`.
"""
