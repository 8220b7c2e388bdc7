"""One module per lesson notebook: ``notebooks/NN_<stem>.ipynb`` finds its experiments, hand-built
data, figures and explorers in ``attention_course/lessons/<stem>.py``::

    from attention_course.lessons import softmax as lesson

Lesson modules import the core (``attention_course.*``) and the engine (``viz``, ``widgets``),
never each other. Nothing is imported here, so opening one lesson loads only its module.
"""
