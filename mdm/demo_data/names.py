"""Static vocabularies for the synthetic Turku population (names, streets, schools).

Everything here is invented or public-domain common knowledge (frequent Finnish
names, real street names of Turku and its neighbours); no real person is modelled.
"""
from __future__ import annotations

# Common Finnish given names (several generations mixed; a few hyphenated ones).
FEMALE_GIVEN = (
    "Aino", "Anna", "Anne", "Anneli", "Annikki", "Helena", "Johanna", "Kaarina", "Katariina",
    "Kristiina", "Liisa", "Maria", "Marjatta", "Marja", "Tuula", "Päivi", "Tiina", "Sari",
    "Minna", "Pirjo", "Ritva", "Leena", "Eeva", "Elina", "Emilia", "Emma", "Sofia", "Aada",
    "Olivia", "Lilja", "Helmi", "Ella", "Venla", "Iida", "Ilona", "Sanni", "Linnea", "Siiri",
    "Vilma", "Pihla", "Enni", "Hilla", "Kerttu", "Laura", "Henna", "Jenni", "Hanna", "Sanna",
    "Satu", "Heidi", "Riikka", "Kaisa", "Maija", "Tuulikki", "Irmeli", "Hannele", "Orvokki",
    "Sinikka", "Elisabet", "Inkeri", "Kyllikki", "Ulla", "Hilkka", "Terttu", "Aurora", "Amanda",
    "Eveliina", "Josefiina", "Säde", "Tyyne", "Anna-Maija", "Marja-Liisa", "Pia", "Outi",
    "Mervi", "Merja", "Sirpa", "Raija", "Aili", "Elsa", "Isla", "Stella", "Matilda", "Ronja",
    "Åsa", "Birgitta", "Ingrid", "Karin", "Märta", "Signe",
)
MALE_GIVEN = (
    "Juhani", "Johannes", "Mikael", "Olavi", "Antero", "Tapani", "Kalevi", "Matti", "Timo",
    "Jari", "Mika", "Pekka", "Jukka", "Mikko", "Antti", "Juha", "Kari", "Heikki", "Markku",
    "Seppo", "Pertti", "Esa", "Ville", "Janne", "Tuomas", "Lauri", "Eino", "Väinö", "Onni",
    "Eetu", "Leevi", "Elias", "Oliver", "Aatos", "Niilo", "Toivo", "Eemeli", "Veeti", "Aleksi",
    "Joonas", "Santeri", "Ilmari", "Kristian", "Petteri", "Ensio", "Jyrki", "Yrjö", "Sakari",
    "Henrik", "Erik", "Ari", "Harri", "Jouko", "Raimo", "Tapio", "Kimmo", "Petri", "Teemu",
    "Sami", "Jussi", "Otto", "Eero", "Oskari", "Valtteri", "Rasmus", "Daniel", "Samuel",
    "Juha-Pekka", "Jukka-Pekka", "Veli-Matti", "Björn", "Håkan", "Göran", "Anders", "Nils",
    "Fredrik", "Mathias", "Jörgen", "Viljami", "Hannes", "Urho", "Lenni", "Patrik",
)
# Immigrant-background given names (Turku has a sizeable foreign-language population).
FOREIGN_FEMALE = ("Fatima", "Amina", "Leila", "Olga", "Natalia", "Linh", "Sara", "Zeynep", "Hodan")
FOREIGN_MALE = ("Mohamed", "Ahmed", "Ali", "Omar", "Mustafa", "Dmitri", "Alexei", "Minh", "Yusuf")

SURNAMES = (
    "Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen",
    "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi",
    "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen", "Tuominen", "Rantanen",
    "Karjalainen", "Jokinen", "Mattila", "Savolainen", "Lahtinen", "Ahonen", "Jääskeläinen",
    "Kärkkäinen", "Söderström", "Äijälä", "Hyvönen", "Räsänen", "Väisänen", "Pöyhönen", "Kivelä",
    "Lindqvist", "Nyström", "Lindroos", "Sjöblom", "Grönroos", "Wikström", "Åberg", "Öhman",
    "Ylönen", "Peltonen", "Leino", "Aaltonen", "Suominen", "Lindholm", "Vuorinen", "Valtonen",
    "Kallio", "Ketola", "Rinne", "Hakala", "Mäkipää", "Kärki", "Jäppinen", "Ström", "Törmä",
    "Österberg", "Lähteenmäki", "Vähätalo", "Seppälä", "Ylitalo", "Koivisto", "Laaksonen",
    "Lindberg", "Ekström", "Holmström", "Honkanen", "Ojala", "Manninen", "Anttila", "Räty",
    "Mäenpää", "Leppänen", "Pitkänen", "Hiltunen", "Kettunen", "Nurmi", "Hietala", "Jalonen",
    "Sundström", "Blomqvist", "Mustonen", "Rautio", "Heikkonen", "Lundén", "Pääkkönen",
)
FOREIGN_SURNAMES = (
    "Ahmed", "Hassan", "Nguyen", "Ali", "Abdullahi", "Tran", "Karimi", "Hussein", "Öztürk",
    "Yilmaz", "Mohamud", "Popescu",
)

# (street, postal code) per municipality; municipality code, weight of population.
STREETS = {
    "Turku": (
        ("Aurakatu", "20100"), ("Yliopistonkatu", "20100"), ("Linnankatu", "20100"),
        ("Puistokatu", "20100"), ("Humalistonkatu", "20100"), ("Eerikinkatu", "20100"),
        ("Kristiinankatu", "20100"), ("Maariankatu", "20100"), ("Läntinen Rantakatu", "20100"),
        ("Rauhankatu", "20100"), ("Hämeenkatu", "20500"), ("Uudenmaankatu", "20500"),
        ("Sirkkalankatu", "20500"), ("Vähä-Hämeenkatu", "20500"), ("Kaskenkatu", "20700"),
        ("Sepänkatu", "20700"), ("Lemminkäisenkatu", "20520"), ("Itäinen Pitkäkatu", "20520"),
        ("Martinkatu", "20810"), ("Uittamontie", "20810"), ("Hirvensalontie", "20900"),
        ("Satakunnantie", "20320"), ("Raunistulantie", "20300"), ("Nisse Kavon katu", "20610"),
        ("Varissuonkatu", "20610"), ("Runoratsunkatu", "20360"), ("Pansiontie", "20240"),
        ("Nummenpakantie", "20540"), ("Jaaninojankatu", "20880"), ("Skarppakullantie", "20360"),
        ("Kärsämäentie", "20300"), ("Ruohonpääntie", "20380"), ("Lausteentie", "20660"),
    ),
    "Kaarina": (("Voivalantie", "20780"), ("Hovirinnantie", "20780"), ("Piispanlähteentie", "20780"),
                ("Kaarinantie", "20780")),
    "Raisio": (("Raisiontie", "21200"), ("Kuninkaantie", "21200"), ("Tasalanaukio", "21200"),
               ("Nallinkatu", "21200")),
    "Naantali": (("Tullikatu", "21100"), ("Luostarinkatu", "21100"), ("Mannerheiminkatu", "21100"),
                 ("Käsityöläiskatu", "21100")),
    "Lieto": (("Hyvättyläntie", "21410"), ("Kirkkotie", "21410"), ("Vanhalinnantie", "21410")),
}
MUNICIPALITY_CODE = {"Turku": "853", "Kaarina": "202", "Raisio": "680", "Naantali": "529", "Lieto": "423"}
CITY_WEIGHTS = (("Turku", 0.75), ("Kaarina", 0.08), ("Raisio", 0.07), ("Naantali", 0.05), ("Lieto", 0.05))

LIBRARY_BRANCHES = {
    "Turku": ("TURPK", "TURPK", "TURVA", "TURRU", "TURNU", "TURHA", "TURMA"),
    "Kaarina": ("KAAPK",), "Raisio": ("RAIPK",), "Naantali": ("NAAPK",), "Lieto": ("LIEPK",),
}

EMAIL_DOMAINS = (
    ("gmail.com", 40), ("hotmail.com", 10), ("outlook.com", 10), ("yahoo.com", 3), ("luukku.com", 5),
    ("elisanet.fi", 8), ("kolumbus.fi", 3), ("netti.fi", 3), ("suomi24.fi", 3), ("icloud.com", 5),
)

# OneRoster orgs: (key, name, type, identifier, stage) stage: primary | lower | upper
SCHOOLS = (
    ("kerttuli", "Kerttulin koulu", "school", "853-0101", "primary"),
    ("martti", "Martin koulu", "school", "853-0102", "primary"),
    ("vasaramaki", "Vasaramäen koulu", "school", "853-0103", "primary"),
    ("pansio", "Pansion koulu", "school", "853-0104", "primary"),
    ("runosmaki", "Runosmäen koulu", "school", "853-0105", "primary"),
    ("cygnaeus", "Cygnaeus skola", "school", "853-0106", "primary"),
    ("luostarivuori", "Luostarivuoren koulu", "school", "853-0201", "lower"),
    ("kupittaa", "Kupittaan koulu", "school", "853-0202", "lower"),
    ("varissuo", "Varissuon koulu", "school", "853-0203", "lower"),
    ("norssi", "Turun normaalikoulu", "school", "853-0204", "lower"),
    ("klassikka", "Turun Klassillinen lukio", "school", "853-0301", "upper"),
    ("puolala", "Puolalanmäen lukio", "school", "853-0302", "upper"),
    ("katedral", "Katedralskolan i Åbo", "school", "853-0303", "upper"),
)
