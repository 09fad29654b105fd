"""The assistant's vocabulary: names, devices, music, places, things, number words.

The corpus speaks requests made of these words (`corpus.grammar`) and the NLU
parses them (`nodes.nlu`), so both read them here, below both. Contact and
device names are split between train, dev and test (see `corpus.splits`), so
test names are never heard in training. The rare names are there on purpose:
a recogniser must get them from the user's context.
"""

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen \
seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
"""Number words, as a recogniser writes numbers (`TENS[n // 10]`; `_` where there is none)."""

FIRST_NAMES = """
aaron abigail adrian aisha alan albert alice amara amelia amir ana andre angela anita anton arjun astrid
barbara beatrice ben bianca boris brenda bruno carla carlos carmen caroline cecilia charles chen chloe
clara colin dalia daniel daria david deepa derek diana dmitri dora edgar eileen elena eliza emil emma
eric esther farah felix fiona frank freya gabriel gemma george gina grace greta hana hannah harold
hector helen henry hugo ian ida igor imani irene isaac ivan jack jade james jana jasper jenna joan
jonah jorge julia kai karen karim kate keith kenji kevin kim laila lars laura leo lena leon liam lila
linus lisa lucas lucy luis maya magnus mara marco maria mark martha mateo megan meg mia mike milo mina
naomi nadia nathan nell nico nina noah nora olga oliver omar oscar otto pablo paula peter petra priya
quinn rachel rafael rania ravi rebecca rosa ruby ryan sam sara sean selma simon sofia soren stella
susan tara teresa theo thomas tina tobias uma ursula valentina vera victor vivian walter wanda wei
xavier yara yusuf zara zoe
""".split()

RARE_FIRST_NAMES = """
anouk baptiste caoimhe dagny eero fionnuala gudrun hamish ieuan joaquina kasimir leocadia meinrad
niamh oisin pernille quirin radomir saoirse tancredi ulrike vesna wendeline xiomara ysolde zdenek
""".split()

LAST_NAMES = """
adams alvarez anderson bailey baker bauer becker bell bennett brooks brown campbell carter castro chen
clark collins cook cooper cruz davis diaz edwards evans fischer fisher flores foster garcia gomez
gonzalez gray green hall harris hayes hill hoffman howard hughes jackson james jenkins johnson jones
kelly kim king klein koch lee lewis long lopez martin meyer miller mitchell moore morgan morris murphy
myers nelson nguyen novak olsen ortiz parker patel perez perry peterson phillips powell price ramirez
reed reyes richter rivera roberts rogers ross russell sanchez schmidt schneider scott shaw silva smith
stewart sullivan taylor thomas torres turner walker wagner ward watson weber white williams wilson
wood wright young zimmer
""".split()

RARE_LAST_NAMES = """
abernathy bjornstad czarnecki dziedzic eichhorn fitzwilliam grzybowski haverkamp ilyushin jankowiak
kowalczyk lindqvist mcgillicuddy nakashima oyelaran przybylski quackenbush rautenberg szczepanski
thorvaldsen uchenna vandersloot wojciechowski yamaguchi zabrowski
""".split()

DEVICES = """
lights|lamp|fan|heater|air conditioner|tv|television|radio|speaker|coffee maker|kettle|dishwasher|
washing machine|dryer|oven|microwave|vacuum|robot vacuum|blinds|curtains|garage door|front door lock|
porch light|ceiling fan|fireplace|humidifier|dehumidifier|air purifier|sprinklers|doorbell camera|
christmas tree|fairy lights|desk lamp|reading light|night light|floor lamp|space heater|water heater|
towel warmer|electric blanket|aquarium light|pool pump|hot tub|projector|soundbar|printer|router|
baby monitor|security camera|smart plug|strip lights|chandelier|pendant lights|patio heater|
toaster|rice cooker|slow cooker|bread maker|espresso machine|juicer|blender|freezer|fridge|
wine cooler|garden lights|fountain|lawn mower|gate|shutters|skylight|attic fan|heat lamp|lava lamp|
salt lamp|bookshelf lights|mirror light|bathroom fan|radiator|underfloor heating|boiler|heat pump|
ice maker|record player|game console|smart display|alarm system|motion sensor|cat feeder|dog door|
plant lights|grow lights|window fan|tower fan|diffuser|doorbell|stove hood|tea kettle|waffle iron
""".replace("\n", "").split("|")

ROOMS = """
kitchen|living room|bedroom|bathroom|office|garage|hallway|dining room|basement|attic|nursery|
guest room|porch|garden|study|playroom|laundry room
""".replace("\n", "").split("|")

CITIES = """
boston|chicago|seattle|denver|austin|miami|atlanta|phoenix|portland|dallas|houston|detroit|
san francisco|los angeles|new york|london|paris|berlin|madrid|rome|vienna|prague|dublin|oslo|
stockholm|helsinki|warsaw|lisbon|athens|cairo|nairobi|lagos|mumbai|delhi|tokyo|osaka|seoul|
beijing|shanghai|sydney|melbourne|toronto|vancouver|montreal|mexico city|lima|bogota|santiago
""".replace("\n", "").split("|")

ARTISTS = """
the beatles|taylor swift|miles davis|adele|beyonce|queen|coldplay|bob marley|nina simone|
ed sheeran|frank sinatra|the rolling stones|daft punk|norah jones|johnny cash|abba|bruno mars|
radiohead|billie eilish|louis armstrong|david bowie|elton john|shakira|the weeknd|dolly parton
""".replace("\n", "").split("|")

SONGS = """
yesterday|shake it off|so what|hello|halo|bohemian rhapsody|yellow|one love|feeling good|
perfect|my way|paint it black|get lucky|dont know why|ring of fire|dancing queen|uptown funk|
creep|bad guy|what a wonderful world|heroes|rocket man|hips dont lie|blinding lights|jolene
""".replace("\n", "").split("|")

GENRES = "jazz|classical music|rock|pop|country|hip hop|blues|reggae|lullabies|piano music|the news|podcasts".split("|")

ITEMS = """
milk|eggs|bread|butter|cheese|apples|bananas|oranges|coffee|tea|rice|pasta|tomatoes|onions|garlic|
potatoes|carrots|chicken|fish|yogurt|cereal|flour|sugar|salt|olive oil|toilet paper|dish soap|
shampoo|toothpaste|batteries|paper towels|orange juice|peanut butter|ice cream|chocolate|honey
""".replace("\n", "").split("|")

QUESTIONS = """
what time is it|how tall is mount everest|who wrote hamlet|how far is the moon|what is the capital of
australia|how many days until christmas|what is the speed of light|who painted the mona lisa|
how do you spell necessary|what is twelve times eight|when does the sun set today|how old is the
universe|what is the tallest building in the world|who invented the telephone|how many ounces in a
pound|what is the boiling point of water|tell me a joke|what day is it today|how do i make pancakes|
what is the population of canada|who won the world cup|what does photosynthesis mean|how long do
cats live|why is the sky blue|what is a black hole
""".replace("\n", " ").split("|")

MESSAGES = """
i am running late|see you soon|call me back|dinner is ready|i am on my way|happy birthday|
can you pick up the kids|the meeting moved to three|thanks for everything|i will be home at six|
do not forget the keys|good night
""".replace("\n", "").split("|")

WAKE_WORD = "alexa"

LOOKALIKES = """
a lexus|alexander|election|relax a|alexis|elastic|electra|alex|a lecture|lexa|alaska|elect a|
the lexicon|a legacy|eleanor|alexandra|electric|selection|collection|relaxing
""".replace("\n", "").split("|")

GENERAL_SPEECH = """
i think we should leave early tomorrow morning|the weather has been strange this week|
my brother is moving to a new apartment|we watched a great movie last night|
have you seen my glasses anywhere|the train was delayed again today|
this recipe needs more salt|let us go for a walk after lunch|
the kids are playing in the garden|i need to finish this report by friday|
did you remember to water the plants|the concert starts at eight|
she bought a new bicycle last week|we should repaint the fence this summer|
the library closes early on sundays|our neighbors have a new puppy|
i could not find a parking space|the soup is still too hot to eat|
he is learning to play the guitar|the museum was crowded on saturday
""".replace("\n", "").split("|")
