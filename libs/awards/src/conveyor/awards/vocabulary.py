"""Word lists and small weighted vocabularies the generator draws from (realistic, not real)."""

from __future__ import annotations

# fmt: off
SURNAMES: tuple[str, ...] = (
    "Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Tomas",
    "Andrada", "Castillo", "Flores", "Villanueva", "Ramos", "Castro", "Rivera", "Aquino",
    "Navarro", "Salazar", "Mercado", "Domingo", "Gonzales", "Lopez", "Del Rosario",
    "Dela Cruz", "De Guzman", "De Leon", "Fernandez", "Aguilar", "Manalo", "Pascual",
    "Soriano", "Valdez", "Gutierrez", "Marquez", "Santiago", "Sison", "Tolentino", "Velasco",
    "Yap", "Tan", "Lim", "Sy", "Go", "Chua", "Ong", "Uy", "Co", "Dy", "Ang", "Lacson",
    "Magbanua", "Dimaculangan", "Macaraeg", "Panganiban", "Dumalagan", "Caballero",
    "Evangelista", "Francisco", "Hernandez", "Ignacio", "Jimenez", "Lazaro", "Legaspi", "Luna",
    "Malabanan", "Morales", "Nepomuceno", "Ordoñez", "Padilla", "Quiambao", "Quiñones",
    "Roxas", "Sarmiento", "Tiongson", "Umali", "Vergara", "Zamora", "Alcantara", "Bernardo",
    "Cabrera", "Dizon", "Espiritu", "Estrada", "Gatchalian", "Ilagan", "Javier", "Katigbak",
    "Labrador", "Mangubat", "Natividad", "Ocampo", "Pangilinan", "Resurreccion", "Samonte",
    "Tabora", "Urbano", "Villaruel", "Yumul", "Zaragoza", "Abad", "Bacani", "Cajucom",
    "Dimagiba", "Enriquez", "Fajardo", "Galang", "Hidalgo", "Isidro", "Jocson", "Lagman",
    "Mallari", "Nuñez", "Obispo", "Pineda", "Quizon", "Rodriguez", "Sanchez", "Tuazon",
    "Unson", "Vasquez", "Agbayani", "Bagatsing", "Cortez", "Delos Santos", "Esguerra",
    "Gamboa", "Hilario", "Laurel", "Madrigal", "Ortega", "Perez", "Rosales", "Serrano",
    "Tañada", "Valenzuela", "Yulo",
)

GIVEN_NAMES: tuple[str, ...] = (
    "Juan", "Jose", "Maria", "Ana", "Ramon", "Rodrigo", "Emilio", "Andres", "Lourdes",
    "Rosario", "Carmelita", "Ernesto", "Rolando", "Danilo", "Teresita", "Marites", "Jun",
    "Bong", "Boy", "Nenita", "Arnel", "Romeo", "Lorna", "Edgardo", "Felicidad", "Reynaldo",
    "Cecilia", "Wilfredo", "Josefina", "Rogelio",
)

BRAND_WORDS: tuple[str, ...] = (
    "Golden", "Triple A", "Northstar", "Bayanihan", "Mabuhay", "Pinnacle", "Silverline",
    "Bright Future", "Sto. Niño", "San Miguel", "Sampaguita", "Perlas", "Bagong Silang",
    "Tala", "Araw", "Bituin", "Kalayaan", "Maharlika", "Pag-asa", "Masagana", "D'Best",
    "D'Great", "A+", "JRS", "RJM", "MGC", "Everlasting", "Greenfields", "Bluewater",
    "Highlands", "Southern Cross", "Sunrise", "Eagle Eye", "Lucky Star", "Prime", "Unified",
    "First Rate", "Metro", "Island", "Visayan", "Mindanao", "Cordillera", "Bicolandia",
    "Rizal", "Luzon", "Pacific", "Oriental", "Royal", "Jireh", "Shekinah", "El Shaddai",
    "Emmanuel", "Genesis", "Zion", "Hi-Tech", "Megatrend", "Infinity", "Vertex", "Apex",
    "Summit", "Crown", "Diamond", "Emerald", "Ruby", "Sapphire", "Jade", "Phoenix", "Titan",
    "Atlas", "Orion", "Vista", "Nova", "Alpha", "Omega", "Twin Rivers", "Three Kings",
    "Seven Hills", "Good Harvest", "Green Valley", "Blue Horizon", "Red Rock", "White Sand",
)

BUSINESS_KINDS: tuple[str, ...] = (
    "Construction & Supply", "Construction and Development Corporation", "Builders", "Trading",
    "Trading Corporation", "Enterprises", "General Merchandise", "Marketing", "Medical Supply",
    "Office Solutions", "Pharma Distributors Inc.", "Engineering Services",
    "Catering Services", "Printing Press", "Hardware", "Construction Corp.",
    "Trading Co., Inc.", "Industrial Sales", "Commercial", "Agri-Ventures", "Computer Center",
    "Office Supplies", "Surgical Supply", "Motor Works", "Auto Supply", "Food Services",
    "Security Agency, Inc.", "Technologies, Inc.", "Development Corporation", "Resources Inc.",
    "(Phils.) Inc.", "Ventures", "Builders & Supply", "Drugstore", "Lumber & Hardware",
    "Gasoline Station",
)

BARANGAYS: tuple[str, ...] = (
    "Poblacion", "San Isidro", "San Jose", "San Roque", "Santo Niño", "San Vicente",
    "Santa Cruz", "San Antonio", "San Juan", "San Pedro", "Bagong Silang", "Malinao", "Mabini",
    "Rizal", "Bonifacio", "Burgos", "Del Pilar", "Magsaysay", "Quezon", "Lourdes", "Calumpang",
    "Dalig", "Maligaya", "Masagana", "Pag-asa", "Tabing Ilog", "Ibabao", "Ilaya", "Bucana",
    "Baybay", "Centro", "Looc", "Canlubang", "Tagumpay", "Dagatan",
)

OFFICES: tuple[str, ...] = (
    "the Municipal Health Office", "the Provincial Engineering Office", "the City Hall",
    "the Barangay Hall", "the District Hospital", "the Division Office", "the Regional Office",
    "the Rural Health Unit", "the Public Market", "the Municipal Agriculture Office",
    "the Schools Division", "the Provincial Capitol", "the Police Station", "the Fire Station",
)

# Title words per kind of category: (verb phrases, items). A category takes the kind whose
# keyword appears first in its name (see ``category_kind``); titles then read like real ones.
CATEGORY_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "construction project": (
        ("Construction of", "Rehabilitation of", "Improvement of", "Concreting of", "Repair of"),
        (
            "Concrete Road", "Farm-to-Market Road", "Multi-Purpose Building", "Drainage Canal",
            "Flood Control Structure", "School Building", "Barangay Health Station",
            "Level II Water System", "Footbridge", "Seawall", "Covered Court",
            "Day Care Center", "Slope Protection", "Box Culvert", "Perimeter Fence",
            "Evacuation Center",
        ),
    ),
    "medic": (
        ("Supply and Delivery of", "Procurement of", "Purchase of"),
        (
            "Medical Supplies", "Laboratory Reagents", "Surgical Gloves",
            "Syringes and Needles", "PPE Sets", "Hospital Beds", "Dental Supplies",
            "X-Ray Films", "Oxygen Cylinders",
        ),
    ),
    "drug": (
        ("Supply and Delivery of", "Procurement of", "Purchase of"),
        (
            "Paracetamol 500mg Tablets", "Amoxicillin Capsules", "Assorted Medicines",
            "Vaccines", "Antibiotics", "Vitamins and Minerals", "IV Fluids",
        ),
    ),
    "food": (
        ("Supply and Delivery of", "Procurement of", "Purchase of"),
        (
            "Rice", "Food Packs", "Canned Goods", "Supplementary Feeding Items",
            "Relief Goods", "Fresh Vegetables", "Noodles and Sardines",
        ),
    ),
    "catering": (
        ("Catering Services for", "Provision of Meals for", "Food and Venue for"),
        (
            "Training Seminar", "Planning Workshop", "Year-End Assessment", "Orientation",
            "Barangay Assembly", "Nutrition Month Celebration",
        ),
    ),
    "vehicle": (
        ("Repair and Maintenance of", "Supply and Delivery of", "Purchase of"),
        (
            "Service Vehicle", "Ambulance", "Dump Truck", "Motorcycle", "Tires and Batteries",
            "Vehicle Spare Parts", "Patrol Car",
        ),
    ),
    "information technology": (
        ("Supply and Delivery of", "Procurement of", "Purchase of"),
        (
            "Desktop Computers", "Laptop Computers", "Printers", "Network Switches",
            "UPS Units", "Computer Peripherals", "Tablets", "Server Equipment",
        ),
    ),
    "office": (
        ("Supply and Delivery of", "Procurement of", "Purchase of"),
        (
            "Office Supplies", "Bond Paper", "Ink Cartridges", "Filing Cabinets",
            "Photocopier Toner", "Assorted Office Supplies", "Office Tables and Chairs",
        ),
    ),
    "fuel": (
        ("Supply and Delivery of", "Purchase of"),
        ("Diesel Fuel", "Gasoline", "Lubricants", "Fuel and Oil"),
    ),
    "service": (
        ("Procurement of", "Hiring of", "Provision of"),
        (
            "Janitorial Services", "Security Services", "Consultancy Services",
            "Repair Services", "Hauling Services", "Printing Services",
            "Venue and Accommodation",
        ),
    ),
    "construction material": (
        ("Supply and Delivery of", "Purchase of"),
        (
            "Cement and Aggregates", "Reinforcing Steel Bars", "Lumber and Plywood",
            "G.I. Sheets", "Hollow Blocks", "Construction Materials", "Paints and Varnish",
        ),
    ),
    "agricultur": (
        ("Supply and Delivery of", "Distribution of", "Procurement of"),
        (
            "Certified Rice Seeds", "Fertilizer", "Vegetable Seeds", "Hand Tractors",
            "Farm Tools", "Fruit-Bearing Seedlings", "Water Pumps",
        ),
    ),
}
GENERIC_KIND: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("Supply and Delivery of", "Procurement of", "Purchase of"),
    ("Assorted Items", "Various Supplies", "Equipment", "Materials"),
)
# fmt: on


def category_kind(category: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The verb phrases and item words for titles in ``category``.

    A generic kind also lists the category's own name as an item, so a keyword search for a
    category word finds its awards.
    """
    lowered = category.lower()
    for keyword, kind in CATEGORY_KINDS.items():
        if keyword in lowered:
            return kind
    verbs, items = GENERIC_KIND
    return verbs, (category, *items)


def classification_of(category: str) -> str:
    """The procurement classification a category's awards carry."""
    lowered = category.lower()
    if lowered.startswith("construction project"):
        return "Civil Works"
    if "consult" in lowered or "architectural design" in lowered or "research" in lowered:
        return "Consulting Services"
    if "service" in lowered:
        return "Goods - General Support Services"
    return "Goods"


# (value, weight) vocabularies; weights need not sum to 1.
PROCUREMENT_MODES_SMALL: tuple[tuple[str, float], ...] = (
    ("Small Value Procurement", 0.62),
    ("Shopping", 0.12),
    ("Negotiated Procurement - Emergency Cases", 0.05),
    ("Negotiated Procurement - Agency-to-Agency", 0.04),
    ("Negotiated Procurement - Lease of Real Property and Venue", 0.05),
    ("Direct Contracting", 0.04),
    ("Repeat Order", 0.03),
    ("Public Bidding", 0.05),
)
"""Modes for contracts below the public bidding threshold."""

PROCUREMENT_MODES_LARGE: tuple[tuple[str, float], ...] = (
    ("Public Bidding", 0.80),
    ("Negotiated Procurement - Two Failed Biddings", 0.07),
    ("Negotiated Procurement - Emergency Cases", 0.04),
    ("Direct Contracting", 0.03),
    ("Limited Source Bidding", 0.02),
    ("Negotiated Procurement - Agency-to-Agency", 0.04),
)
"""Modes for contracts at or above the threshold."""

PUBLIC_BIDDING_THRESHOLD = 1_000_000.0
"""PHP; above it competitive bidding is the norm (small value procurement caps near 1M)."""

FUNDING_SOURCES: tuple[tuple[str, float], ...] = (
    ("Government of the Philippines", 0.46),
    ("Local Government Unit - General Fund", 0.24),
    ("Local Government Unit - 20% Development Fund", 0.08),
    ("Special Education Fund", 0.06),
    ("Trust Fund", 0.05),
    ("Corporate Budget", 0.06),
    ("Foreign-Assisted Project (ODA)", 0.03),
    ("Quick Response Fund", 0.02),
)

AWARD_STATUSES: tuple[tuple[str, float], ...] = (
    ("Awarded", 0.80),
    ("Contract Signed", 0.12),
    ("Completed", 0.07),
    ("Terminated", 0.01),
)
