from orchestrator.cli.entry import command

command()
