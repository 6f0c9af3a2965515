from cmp.cli import main

main()
