from groupcost.cli.app import run

run()
