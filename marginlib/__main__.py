from marginlib.book.cli import main

raise SystemExit(main())
