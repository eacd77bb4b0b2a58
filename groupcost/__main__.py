from groupcost.cli import run

run()
