"""Speed against the libraries a user would otherwise pick; ``make bench`` runs them all."""
