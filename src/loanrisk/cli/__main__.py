from loanrisk.cli.main import main

raise SystemExit(main())
