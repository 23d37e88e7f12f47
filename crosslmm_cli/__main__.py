from crosslmm_cli.cli import main

main()
