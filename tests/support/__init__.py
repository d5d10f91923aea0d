"""Helpers shared by the tests and the fakes: settings, clocks, people, the web page's forms."""
