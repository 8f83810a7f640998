"""Trading: the rules of an order, placing orders (with their group commit), cancels and
expiries, and the API's views of orders and fills."""
