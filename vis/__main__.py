from vis.cli import main

main()
