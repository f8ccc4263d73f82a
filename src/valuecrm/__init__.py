"""ValueCRM: a CRM whose core is customer value."""
__version__ = "0.1.0"
