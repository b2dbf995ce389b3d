"""Task builders the experiments share: what several experiment mains would otherwise each write
(the model a config section describes, its loss function, its evaluation), one module per family
of tasks. An experiment main (experiments/*.py) keeps only what is its own."""
