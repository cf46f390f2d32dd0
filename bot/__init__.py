"""The Telegram front desk: indexes the pictures posted in groups and answers searches.

It speaks Telegram (python-telegram-bot) and decides who may ask what; everything about
pictures and vectors is asked of :class:`indexer.service.IndexService`.
"""
