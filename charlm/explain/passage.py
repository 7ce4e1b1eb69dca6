"""The passage `python -m charlm cells` reads when given no text: written for this project in the
shape of the training text (speaker lines, verse, sentences, a few asides in brackets), so every
property the cells are compared with occurs in it more than once."""

PASSAGE = """FIRST CITIZEN:
Good morrow, neighbour. Is the market open?
I came to buy a loaf (if bread be left) and hear the news.

SECOND CITIZEN:
The news is bread enough. The duke rode out at dawn;
his horse was white, his face was grey. Who knows why?
Some say the north is up in arms. I say nothing.

FIRST CITIZEN:
You say it loudly, then. What of the queen?

SECOND CITIZEN:
She keeps her chamber, and her women (three of them,
and all of them afraid) say she will not eat.
Go home, good friend. Buy bread tomorrow.

DUKE:
Who stands there talking in the open street?
Speak, both of you. Your names, and then your business.

FIRST CITIZEN:
A baker's son, my lord, and no one's business.
I came for bread. I found a rumour [and it was stale].

DUKE:
Then take this coin, and take your rumour home.
The queen is well; the north is quiet; go.
Tell every man you meet (and tell him twice)
that all is well. Is that a thing to fear?

SECOND CITIZEN:
No, my good lord. We fear nothing at all.

DUKE:
That is the fear I mean. Away, away!
"""
