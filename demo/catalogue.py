"""The demo catalogue: a handful of categories and products in three currencies."""

from shop.models import Platform, Region

CATEGORIES = [
    ("pc-games", "PC games", "Keys for Steam and Windows games."),
    ("console", "Console games", "Codes for PlayStation, Xbox and Nintendo."),
    ("gift-cards", "Gift cards", "Store credit for the big platforms."),
    ("subscriptions", "Subscriptions", "Months of online play and game libraries."),
]

# (category slug, slug, name, platform, region, price in minor units, currency, featured, description)
PRODUCTS = [
    ("pc-games", "star-voyager", "Star Voyager", Platform.STEAM, Region.GLOBAL, 2999, "EUR", True,
     "Explore a procedurally generated galaxy.\nSingle-player and co-op."),
    ("pc-games", "farm-story", "Farm Story", Platform.STEAM, Region.EUROPE, 1499, "EUR", True,
     "A calm farming game for long evenings."),
    ("pc-games", "office-suite-2026", "Office Suite 2026 licence", Platform.WINDOWS, Region.GLOBAL, 4999, "USD", False,
     "One licence key for one Windows PC."),
    ("console", "kart-racer-deluxe", "Kart Racer Deluxe", Platform.NINTENDO, Region.EUROPE, 4999, "EUR", True,
     "The family racing classic."),
    ("console", "shadow-tactics", "Shadow Tactics", Platform.PLAYSTATION, Region.NORTH_AMERICA, 3999, "USD", False,
     "Stealth strategy in feudal Japan."),
    ("console", "forza-lanes", "Forza Lanes", Platform.XBOX, Region.GLOBAL, 5999, "USD", False,
     "Open-world racing."),
    ("gift-cards", "steam-wallet-20", "Steam Wallet 20 EUR", Platform.GIFT_CARD, Region.EUROPE, 2000, "EUR", True,
     "Adds 20 EUR to a Steam wallet."),
    ("gift-cards", "playstation-store-25", "PlayStation Store 25 USD", Platform.GIFT_CARD, Region.NORTH_AMERICA, 2500, "USD", False,
     "Adds 25 USD to a PlayStation Network wallet (US accounts)."),
    ("gift-cards", "game-card-100-cny", "Game card 100 CNY", Platform.GIFT_CARD, Region.CHINA, 10000, "CNY", True,
     "Store credit for accounts in mainland China."),
    ("subscriptions", "online-play-12m", "Online play, 12 months", Platform.SUBSCRIPTION, Region.GLOBAL, 5999, "EUR", False,
     "A year of online multiplayer."),
    ("subscriptions", "game-pass-3m", "Game library, 3 months", Platform.SUBSCRIPTION, Region.EUROPE, 3299, "EUR", True,
     "Hundreds of games for three months."),
    ("subscriptions", "music-1m-cny", "Music subscription, 1 month", Platform.SUBSCRIPTION, Region.CHINA, 1500, "CNY", False,
     "One month of ad-free music."),
]
