"""English and Korean: every sentence the bot says, and the names and descriptions of its commands.

A user whose Discord client speaks Korean (`interaction.locale` ko) reads Korean; everyone else
reads English. The models still write English. A sentence is a `Phrase`: a `str` holding the
English text (so code and logs that treat it as text keep working), plus its template and values,
from which `localize` builds the Korean. Every template has its Korean beside it in `KOREAN`
(tests/bot/test_i18n.py fails for one that has not, and for a command string without Korean);
with BOT_STRICT_I18N=1 (the test suite sets it) showing a sentence missing from the catalog raises.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

STRICT_ENV = "BOT_STRICT_I18N"
JOINERS = {"en": " or ", "ko": " 또는 "}

# English template -> Korean template (the same {placeholders}).
KOREAN: dict[str, str] = {
    # bot/errors.py
    "The bot is busy writing for others; try again in a moment.":
        "다른 분들의 글을 쓰느라 바빠요. 잠시 후 다시 시도해 주세요.",
    "The bot is restarting; try again in a moment.":
        "봇이 다시 시작하는 중이에요. 잠시 후 다시 시도해 주세요.",
    "Server settings belong to a server; for your own defaults use /preferences.":
        "서버 설정은 서버 안에서만 쓸 수 있어요. 나만의 기본값은 /preferences로 정해 주세요.",
    "This server has not added the bot, so it has no settings; for your own defaults use /preferences.":
        "이 서버에는 봇이 추가되지 않아서 서버 설정이 없어요. 나만의 기본값은 /preferences로 정해 주세요.",
    "Only members with the Manage Server permission can change this server's settings.":
        "이 서버의 설정은 '서버 관리' 권한이 있는 멤버만 바꿀 수 있어요.",
    "This command has changed; wait a minute for Discord to update it, then try again.":
        "이 명령어가 바뀌었어요. Discord가 새로 고칠 때까지 1분쯤 기다렸다가 다시 시도해 주세요.",
    "One of the options has a value this command does not accept.":
        "옵션 중 하나에 이 명령어가 받을 수 없는 값이 들어 있어요.",
    "Something went wrong on our side; it has been logged, so please try again later.":
        "저희 쪽에서 문제가 생겼어요. 기록해 두었으니 나중에 다시 시도해 주세요.",
    "You're writing too fast; try again in {seconds} s.":
        "너무 빨리 쓰고 있어요. {seconds}초 뒤에 다시 시도해 주세요.",
    # bot/commands/replies.py and menu.py
    "This reply is too old for its buttons; use /shakespeare for a new one.":
        "이 답글은 오래되어 버튼을 쓸 수 없어요. /shakespeare로 새 글을 받아 보세요.",
    "This button no longer works; use /shakespeare for a new reply.":
        "이 버튼은 더 이상 작동하지 않아요. /shakespeare로 새 글을 받아 보세요.",
    "Only the member who asked for this text, or members with Manage Messages, can delete it.":
        "이 글은 요청한 멤버나 '메시지 관리' 권한이 있는 멤버만 지울 수 있어요.",
    "That message is already gone.": "그 메시지는 이미 사라졌어요.",
    "That message has no text to continue; pick one with some words in it.":
        "그 메시지에는 이어 쓸 글이 없어요. 글이 들어 있는 메시지를 골라 주세요.",
    # bot/commands/voice.py (an upload's limits, checked before the file is fetched)
    "This server has uploaded texts too often; try again in {seconds} s.":
        "이 서버는 글을 너무 자주 올렸어요. {seconds}초 뒤에 다시 시도해 주세요.",
    "This server's last upload is still being fetched and checked; wait for its answer.":
        "이 서버가 마지막으로 올린 파일을 아직 받아서 확인하는 중이에요. 그 답을 기다려 주세요.",
    # bot/commands/why.py (the Why? button)
    "Why the model wrote this: each character's background shows how likely the model found it there, "
    "pale for likely and dark red for surprising (the scale is in bits); the numbered places list the "
    "model's top three guesses there.":
        "모델이 왜 이렇게 썼는지: 글자마다 배경색이 모델이 그 자리에서 그 글자를 얼마나 예상했는지 "
        "보여 줘요. 옅은 색은 예상한 글자, 짙은 빨강은 뜻밖의 글자예요(눈금 단위는 비트). "
        "번호가 붙은 곳에는 모델이 그 자리에서 가장 유력하게 본 세 글자가 적혀 있어요.",
    "Only the first {shown} of {total} characters are drawn.":
        "전체 {total}자 중 앞의 {shown}자만 그렸어요.",
    "Characters the model does not know were transliterated or left out.":
        "모델이 모르는 글자는 비슷한 글자로 바꾸거나 뺐어요.",
    "This reply has no text the model can explain.": "이 답글에는 모델이 설명할 수 있는 글이 없어요.",
    "The picture could not be drawn; please try again later.":
        "그림을 그리지 못했어요. 나중에 다시 시도해 주세요.",
    # bot/voices/progress_picture.py (the picture of a voice's training)
    "In the picture: the line is the training loss in bits per character over the time budget; the "
    "hollow circle is the loss on held-out text before training, the filled one after.":
        "그림 설명: 선은 학습 시간 동안의 학습 손실(글자당 비트)이에요. 속이 빈 원은 학습 전, "
        "속이 찬 원은 학습 후의 검증용 글 손실이에요.",
    "A sample in voice {name}:": "{name} 목소리로 쓴 예시:",
    # bot/commands/about.py
    "What the bot stores, for how long, and how to have it deleted: docs/privacy.md in its source, "
    "or ask its operator.":
        "봇이 무엇을 얼마 동안 저장하는지, 어떻게 지울 수 있는지는 소스의 docs/privacy.md에 있어요. "
        "봇 운영자에게 물어봐도 돼요.",
    # bot/errors.py: storage
    "The bot's settings storage is damaged, so nothing was changed; please tell the bot's operator.":
        "봇의 설정 저장소가 손상되어 아무것도 바뀌지 않았어요. 봇 운영자에게 알려 주세요.",
    "The bot's storage is full, so nothing was changed; please tell the bot's operator.":
        "봇의 저장 공간이 가득 차서 아무것도 바뀌지 않았어요. 봇 운영자에게 알려 주세요.",
    "The bot's settings storage was moved or deleted while the bot runs, so nothing was changed; "
    "please tell the bot's operator.":
        "봇이 실행되는 동안 설정 저장소가 옮겨지거나 지워져서 아무것도 바뀌지 않았어요. "
        "봇 운영자에게 알려 주세요.",
    "The settings database is busy, so nothing was changed; try again in a moment.":
        "설정 데이터베이스가 바빠서 아무것도 바뀌지 않았어요. 잠시 후 다시 시도해 주세요.",
    # bot/errors.py: storage, PostgreSQL
    "The bot cannot reach its settings database right now, so nothing was changed; try again in a moment.":
        "봇이 지금 설정 데이터베이스에 연결할 수 없어서 아무것도 바뀌지 않았어요. "
        "잠시 후 다시 시도해 주세요.",
    # bot/voices/cache.py
    "The bot cannot reach its database right now, so the voice {name} cannot be loaded; try again in a "
    "moment.":
        "봇이 지금 데이터베이스에 연결할 수 없어서 {name} 목소리를 불러올 수 없어요. "
        "잠시 후 다시 시도해 주세요.",
    # bot/storage/settings.py
    "Temperature must be a number from {low} to {high}.": "온도는 {low}에서 {high} 사이의 숫자여야 해요.",
    "Length must be a whole number from {low} to {high}.": "길이는 {low}에서 {high} 사이의 정수여야 해요.",
    "Model must be the name of one of the bot's models, such as lstm.":
        "모델에는 봇이 가진 모델의 이름을 넣어 주세요(예: lstm).",
    "There is no setting called {name}.": "{name}(이)라는 설정은 없어요.",
    # bot/commands/settings.py
    "Temperature is now {value} on this server.": "이제 이 서버의 온도는 {value}예요.",
    "Length is now {value} characters on this server.": "이제 이 서버에서는 {value}자를 써요.",
    "The model is now {value} on this server.": "이제 이 서버의 모델은 {value}예요.",
    "Settings are back to their defaults:\n{settings}": "설정을 기본값으로 되돌렸어요.\n{settings}",
    "This server's settings:\n{settings}": "이 서버의 설정:\n{settings}",
    "- {name}: **{value}** ({origin})": "- {name}: **{value}** ({origin})",
    "set by an admin": "관리자가 정함",
    "set by you": "내가 정함",
    "Your own defaults (used in DMs and in servers without the bot):\n{settings}":
        "나만의 기본값 (DM과 봇이 없는 서버에서 써요):\n{settings}",
    "Your temperature is now {value}.": "이제 내 온도는 {value}예요.",
    "You now get {value} characters.": "이제 {value}자를 받아요.",
    "Your model is now {value}.": "이제 내 모델은 {value}예요.",
    "Your defaults are back to the bot's:\n{settings}": "내 기본값을 봇의 기본값으로 되돌렸어요.\n{settings}",
    "default": "기본값",
    "{origin}; not loaded on this bot, so {model} writes instead":
        "{origin}; 이 봇에 없는 모델이라 {model} 모델이 대신 써요",
    "temperature": "온도",
    "length": "길이",
    "model": "모델",
    # bot/commands/shakespeare.py and options.py
    "The seed must be text of 1 to {most} characters.": "시작 글은 1자에서 {most}자 사이여야 해요.",
    "The {model} model is not loaded on this bot; choose {choices}.":
        "{model} 모델은 이 봇에 없어요. {choices} 중에서 골라 주세요.",
    # charlm's refusals the bot passes on (charlm/sampling.py)
    "The seed has no characters the model knows, even after normalising.":
        "시작 글에 모델이 아는 글자가 하나도 없어요(정리한 뒤에도요).",
    # bot/commands/about.py
    "**Shakespeare bot {version}**: character-level models trained on tinyshakespeare.":
        "**셰익스피어 봇 {version}**: tinyshakespeare로 학습한 글자 단위 모델이에요.",
    "- **{name}**: {kind}, {layers} x {hidden}, {parameters} parameters, {loss}{trained}":
        "- **{name}**: {kind}, {layers} x {hidden}, 매개변수 {parameters}개, {loss}{trained}",
    "validation loss not recorded": "검증 손실 기록 없음",
    "validation loss {bits} bits/char ({nats} nats)": "검증 손실 {bits} bits/char ({nats} nats)",
    ", trained {minutes} min": ", {minutes}분 학습",
    # bot/commands/formatting.py (the header above generated text)
    "temperature {value}": "온도 {value}",
    "seed shortened": "시작 글 줄임",
    "text cut to fit": "글을 잘라 맞춤",
    "continued": "이어 씀",
    "the whole text is in shakespeare.txt": "전체 글은 shakespeare.txt에 있음",
    # bot/commands/voice.py and bot/voices/
    "- **{name}** (from {base}): {before} -> {after} bits/char on its text":
        "- **{name}** ({base}에서 시작): 이 서버 글에서 {before} -> {after} bits/char",
    "; held-out loss before {before}, training loss now {now} bits/char":
        "; 학습 전 검증 손실 {before}, 지금 학습 손실 {now} bits/char",
    "No voice has been trained on this server yet.": "이 서버에서는 아직 목소리를 학습한 적이 없어요.",
    "No voice is training on this server.": "이 서버에서 학습 중인 목소리가 없어요.",
    "Only members with the Manage Server permission can manage this server's voices.":
        "이 서버의 목소리는 '서버 관리' 권한이 있는 멤버만 관리할 수 있어요.",
    "The {model} model is not loaded on this bot and this server has no voice of that name; choose {choices} "
    "or a voice from /voice list.":
        "{model} 모델은 이 봇에 없고, 이 서버에도 그런 이름의 목소리가 없어요. {choices} 중 하나나 "
        "/voice list의 목소리를 골라 주세요.",
    "This server has no voice named {name}; /voice list shows its voices.":
        "이 서버에는 {name}(이)라는 목소리가 없어요. /voice list에서 목소리를 확인해 주세요.",
    "This server has no voices yet; /voice train makes one.":
        "이 서버에는 아직 목소리가 없어요. /voice train으로 만들 수 있어요.",
    "This server's voices ({count} of {most}):": "이 서버의 목소리 ({most}개 중 {count}개):",
    "Training voice {name}: {percent}% done, about {seconds} s left{so_far}.":
        "목소리 {name} 학습 중: {percent}% 완료, 약 {seconds}초 남음{so_far}.",
    "Voice {name} is deleted.": "목소리 {name}을(를) 지웠어요.",
    "Voice {name} is queued: number {position} in line.":
        "목소리 {name}이(가) 대기열 {position}번째에 있어요.",
    "Voice {name} is ready: your text's validation loss went from {before} to {after} bits/char. "
    "Write with it: /shakespeare model:{name}.":
        "목소리 {name} 준비 완료: 올린 글의 검증 손실이 {before}에서 {after} bits/char로 줄었어요. "
        "/shakespeare model:{name}으로 써 보세요.",
    "Voice {name} now writes by default on this server.":
        "이제 이 서버에서는 목소리 {name}이(가) 기본으로 써요.",
    "Voice {name} was cancelled.": "목소리 {name} 학습을 취소했어요.",
    "Voice {name} was not made: {reason}.": "목소리 {name}을(를) 만들지 못했어요: {reason}.",
    "voice {name}": "목소리 {name}",
    "A voice is already training for this server; wait for it or /voice cancel it.":
        "이 서버의 목소리가 이미 학습 중이에요. 끝날 때까지 기다리거나 /voice cancel로 취소해 주세요.",
    "A voice's name must be 1 to {most} letters, digits, - or _, starting with a letter or digit.":
        "목소리 이름은 영문 소문자, 숫자, - 또는 _로 된 1~{most}자여야 하고, 글자나 숫자로 시작해야 해요.",
    "The bot is training {count} voices already, the most it queues; try again later.":
        "봇이 이미 목소리 {count}개를 학습하고 있어서 더 받을 수 없어요. 나중에 다시 시도해 주세요.",
    "The name {name} is taken; choose another.":
        "{name}(이)라는 이름은 이미 있어요. 다른 이름을 골라 주세요.",
    "This server has queued {count} voices in the last day, the most it may; try again tomorrow.":
        "이 서버는 지난 하루 동안 목소리를 {count}개 학습시켜서 최대예요. 내일 다시 시도해 주세요.",
    "You have queued {count} voices in the last day, the most one person may; try again tomorrow.":
        "지난 하루 동안 목소리를 {count}개 학습시켜서 한 사람이 할 수 있는 최대예요. "
        "내일 다시 시도해 주세요.",
    "This server has {count} voices, the most it may keep; delete one with /voice delete first.":
        "이 서버에는 이미 목소리가 {count}개로 최대예요. 먼저 /voice delete로 하나를 지워 주세요.",
    "Discord did not hand over the file (HTTP {status}); attach it again.":
        "Discord에서 파일을 받지 못했어요(HTTP {status}). 다시 첨부해 주세요.",
    "Most of the text is in characters the models cannot write, even transliterated; a voice needs text "
    "mostly in Latin letters.":
        "글 대부분이 모델이 쓸 수 없는 글자예요(로마자로 바꿔도요). "
        "목소리에는 주로 라틴 문자로 된 글이 필요해요.",
    "That file is not an attachment Discord sent; attach the text to the command.":
        "그 파일은 Discord가 보낸 첨부 파일이 아니에요. 명령어에 글 파일을 첨부해 주세요.",
    "That file is not text (it holds binary data); upload a .txt file.":
        "그 파일은 글이 아니에요(바이너리 데이터가 있어요). .txt 파일을 올려 주세요.",
    "The file could not be fetched from Discord ({error}); try again.":
        "Discord에서 파일을 가져오지 못했어요({error}). 다시 시도해 주세요.",
    "The file is larger than {most} MB, the most a voice learns from.":
        "파일이 {most}MB보다 커요. 목소리는 그보다 큰 파일로 배울 수 없어요.",
    "The file is not UTF-8 (or UTF-16 with a BOM); save it as UTF-8 and upload it again.":
        "파일이 UTF-8(또는 BOM이 있는 UTF-16)이 아니에요. UTF-8로 저장해서 다시 올려 주세요.",
    "The file starts like UTF-16 but is not; save it as UTF-8.":
        "파일이 UTF-16처럼 시작하지만 UTF-16이 아니에요. UTF-8로 저장해 주세요.",
    "The text is too short to learn from: a voice needs at least {least} characters.":
        "글이 너무 짧아서 배울 수 없어요. 목소리에는 적어도 {least}자가 필요해요.",
    # /guess (bot/commands/guess.py, guess_text.py, guess_rounds.py)
    "This channel already has a round going: {link}. Vote there; a new one can start after its answer.":
        "이 채널에는 이미 진행 중인 라운드가 있어요: {link}. 거기서 투표해 주세요. "
        "정답이 나온 뒤에 새 라운드를 시작할 수 있어요.",
    "A round is being drawn in this channel; vote in it once it appears.":
        "이 채널에서 라운드를 준비하고 있어요. 나타나면 거기서 투표해 주세요.",
    "A new round can start in this channel {when}.": "이 채널의 새 라운드는 {when} 시작할 수 있어요.",
    "The model wrote nothing that makes a passage this time; try /guess play again.":
        "이번에는 모델이 구절이 될 만한 글을 쓰지 못했어요. /guess play를 다시 해 보세요.",
    "Only the shipped models play /guess: choose {choices}.":
        "/guess에는 기본 제공 모델만 참여해요: {choices} 중에서 고르세요.",
    "This round is unknown or too old; start one with /guess play.":
        "알 수 없거나 너무 오래된 라운드예요. /guess play로 새로 시작하세요.",
    "This round is over. {answer}": "이 라운드는 끝났어요. {answer}",
    "Your vote: {choice}. You can change it until the answer comes {when}.":
        "내 투표: {choice}. 정답이 나오는 {when}까지 바꿀 수 있어요.",
    "Vote changed to {choice}.": "투표를 {choice}(으)로 바꿨어요.",
    "Only the member who started this round guesses in it; start your own with /guess play.":
        "이 라운드는 시작한 사람만 맞힐 수 있어요. /guess play로 직접 시작해 보세요.",
    "Scores belong to a server that added the bot; play /guess there.":
        "점수는 봇을 추가한 서버에만 있어요. 그 서버에서 /guess를 해 보세요.",
    "The game's database is slow right now; try again in a moment.":
        "지금 게임 데이터베이스가 느려요. 잠시 뒤에 다시 해 보세요.",
    "Shakespeare": "셰익스피어",
    "The bot": "봇",
    "**Shakespeare or the bot?** The first line is Shakespeare's; is the rest? The answer comes {when}.":
        "**셰익스피어일까, 봇일까?** 첫 줄은 셰익스피어가 썼어요. 나머지는요? 정답은 {when} 나와요.",
    "Votes so far: {count}": "지금까지 투표: {count}",
    "**It was Shakespeare.**": "**셰익스피어였어요.**",
    "**It was the bot: {model}.**": "**봇이었어요: {model}.**",
    "Shakespeare: {shakespeare}, the bot: {bot}; {right} of {total} right.":
        "셰익스피어: {shakespeare}, 봇: {bot}; {total}명 중 {right}명이 맞혔어요.",
    "Nobody voted.": "아무도 투표하지 않았어요.",
    "You guess alone here: the answer comes with your vote.":
        "여기서는 혼자 맞혀요. 투표하면 바로 정답이 나와요.",
    "**Best guessers here**": "**이 서버의 최고 감별사**",
    "Nobody has guessed here yet; start a round with /guess play.":
        "아직 아무도 맞혀 보지 않았어요. /guess play로 라운드를 시작하세요.",
    "{rank}. {who}: {points} points (streak {streak}, best {best})":
        "{rank}. {who}: {points}점 (연속 {streak}, 최고 {best})",
    "You: number {rank}, {points} points, streak {streak}.": "나: {rank}위, {points}점, 연속 {streak}.",
    "You have not guessed here yet.": "아직 여기서 맞혀 본 적이 없어요.",
    "How often each model fools people (votes for Shakespeare on its passages):":
        "모델마다 사람을 속인 비율 (모델이 쓴 구절에 셰익스피어라고 투표한 비율):",
    "- **{model}**: {share}% of {votes} votes": "- **{model}**: 투표 {votes}개 중 {share}%",
    "- **{model}**: {votes} votes so far ({least} needed)":
        "- **{model}**: 지금까지 투표 {votes}개 ({least}개 필요)",
}

# The commands' names, descriptions and option names, for discord.py's Translator
# (bot/commands/translator.py). Slash command and option names must be lower case (Hangul has
# no case); a context menu's name may have spaces.
COMMAND_KOREAN: dict[str, str] = {
    "shakespeare": "셰익스피어",
    "Write Shakespeare with a character-level model.": "글자 단위 모델로 셰익스피어풍 글을 써요.",
    "seed": "시작",
    "How the text begins (default: a speaker's name, such as ROMEO:)":
        "글의 시작 (기본값: ROMEO: 같은 등장인물 이름)",
    "temp": "온도",
    "Temperature from 0.1 (careful) to 2.0 (wild); default: the server's or yours":
        "온도 0.1(신중하게)부터 2.0(자유분방하게)까지; 기본값: 서버 설정 또는 내 설정",
    "length": "길이",
    "Characters to write, 1 to 10000; default: the server's or yours":
        "쓸 글자 수, 1부터 10000까지; 기본값: 서버 설정 또는 내 설정",
    "model": "모델",
    "Which model or server voice writes; default: the server's or yours":
        "글을 쓸 모델이나 서버 목소리; 기본값: 서버 설정 또는 내 설정",
    "settings": "설정",
    "Show or change this server's defaults for /shakespeare (Manage Server only).":
        "이 서버의 /shakespeare 기본값을 보거나 바꿔요 (서버 관리 권한 필요).",
    "show": "보기",
    "Show the defaults /shakespeare writes with.": "/shakespeare가 쓰는 기본값을 보여 줘요.",
    "preferences": "내설정",
    "Your own defaults for /shakespeare in DMs and in servers without the bot.":
        "DM과 봇이 없는 서버에서 쓸 나만의 /shakespeare 기본값이에요.",
    "temperature": "온도",
    "Set the default temperature.": "기본 온도를 정해요.",
    "value": "값",
    "From 0.1 (careful) to 2.0 (wild)": "0.1(신중하게)부터 2.0(자유분방하게)까지",
    "Set how many characters /shakespeare writes.": "/shakespeare가 쓸 글자 수를 정해요.",
    "From 1 to 1500 characters": "1자부터 1500자까지",
    "Set which model writes by default.": "기본으로 글을 쓸 모델을 정해요.",
    "name": "이름",
    "One of the models this bot has loaded": "이 봇이 가진 모델 중 하나",
    "reset": "초기화",
    "Put every setting back to its default.": "모든 설정을 기본값으로 되돌려요.",
    "about": "소개",
    "Which models this bot runs, how big and how good.": "이 봇이 쓰는 모델과 그 크기, 성능을 보여 줘요.",
    "Continue as Shakespeare": "셰익스피어로 이어 쓰기",
    "voice": "목소리",
    "This server's own voices: train one on a text, list, cancel, delete.":
        "이 서버만의 목소리: 글로 학습하고, 보고, 취소하고, 지워요.",
    "train": "학습",
    "Teach the bot this server's style from a text file.": "글 파일로 이 서버의 문체를 봇에게 가르쳐요.",
    "file": "파일",
    "A UTF-8 text file, at least 10,000 characters, at most 2 MB": "UTF-8 글 파일, 10,000자 이상, 2MB 이하",
    "What to call the voice (letters, digits, - or _)": "목소리 이름 (영문, 숫자, - 또는 _)",
    "base": "기반",
    "The model it starts from (default lstm)": "시작할 모델 (기본값 lstm)",
    "list": "목록",
    "This server's voices and how well each learned.":
        "이 서버의 목소리와 각각 얼마나 잘 배웠는지 보여 줘요.",
    "status": "상태",
    "How this server's latest voice training is going.":
        "이 서버의 최근 목소리 학습이 어떻게 되어 가는지 보여 줘요.",
    "cancel": "취소",
    "Stop this server's voice training.": "이 서버의 목소리 학습을 멈춰요.",
    "delete": "삭제",
    "Delete one of this server's voices.": "이 서버의 목소리 하나를 지워요.",
    "The voice to delete": "지울 목소리",
    "Make one of this server's voices its default.": "이 서버의 목소리 하나를 기본으로 정해요.",
    "A voice from /voice list": "/voice list에 있는 목소리",
    # /guess
    "guess": "맞히기",
    "Shakespeare or the bot? A game for a channel.": "셰익스피어일까, 봇일까? 채널에서 함께하는 게임이에요.",
    "play": "하기",
    "Post a passage: did Shakespeare write it, or the bot?":
        "구절을 올려요: 셰익스피어가 썼을까요, 봇이 썼을까요?",
    "Which shipped model plays the bot (default: the first)": "봇 역할을 할 기본 제공 모델 (기본값: 첫 번째)",
    "scores": "점수",
    "This server's best guessers, and your own rank.": "이 서버의 최고 감별사와 내 순위를 보여 줘요.",
}


class Phrase(str):
    """A sentence for people: its English text, with the template and values to say it in Korean."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Phrase:
        english = {name: _shown(value, "en") for name, value in values.items()}
        phrase = super().__new__(cls, template.format(**english) if values else template)
        phrase.template, phrase.values = template, values
        if template not in KOREAN:
            _missing(template)
        return phrase


def language(locale: object) -> str:
    """"ko" for a Korean Discord client, else "en"."""
    return "ko" if str(getattr(locale, "value", locale) or "").startswith("ko") else "en"


def localize(text: str, locale: object) -> str:
    """`text` as the user with `locale` should read it (plain English text is looked up as is)."""
    if language(locale) == "en":
        return str(text)
    if isinstance(text, Phrase):
        korean = KOREAN.get(text.template)
        if korean is None:
            return str(text)
        return korean.format(**{name: _shown(value, "ko") for name, value in text.values.items()})
    korean = KOREAN.get(str(text))
    if korean is None:
        _missing(str(text))
        return str(text)
    return korean


def _shown(value: object, lang: str) -> str:
    if isinstance(value, Phrase):
        return localize(value, lang)
    if isinstance(value, (list, tuple)):
        return JOINERS[lang].join(_shown(item, lang) for item in value)
    return str(value)


def _missing(text: str) -> None:
    if os.environ.get(STRICT_ENV) == "1":
        raise KeyError(f"no Korean for {text!r}: add it to bot/i18n.py's KOREAN")
    log.debug("No Korean for %r; shown in English.", text)
