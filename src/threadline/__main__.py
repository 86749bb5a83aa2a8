from threadline.cli.app import main

main()
