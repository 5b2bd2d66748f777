from cnndsl.cli import run

run()
