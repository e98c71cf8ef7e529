from marginlib.cli import main

raise SystemExit(main())
