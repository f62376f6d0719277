"""The named SQL files (``<area>.sql``) that ``greenhouse_queue.queries`` loads."""
