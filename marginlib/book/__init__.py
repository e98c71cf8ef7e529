"""The book machinery: parameters and profiles (:mod:`~marginlib.book.params`), run records
(:mod:`~marginlib.book.results`), papermill execution and the Jupyter Book build (:mod:`~marginlib.book.build`),
the command line (:mod:`~marginlib.book.cli`), and figure/number glue (:mod:`~marginlib.book.plots`).

Nothing in the core library (:mod:`marginlib`) or the papers (:mod:`marginlib.papers`) imports it.
"""
