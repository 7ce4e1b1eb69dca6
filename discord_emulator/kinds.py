"""The numbers of Discord's interaction protocol: interaction, callback, command and option types.

https://discord.com/developers/docs/interactions/receiving-and-responding
"""

# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
# Callback types.
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9
# Which callbacks Discord accepts for which interactions (6 and 7 only for components).
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE, MODAL,
    },
    APPLICATION_COMMAND_AUTOCOMPLETE: {APPLICATION_COMMAND_AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}
INTERACTION_NAMES = {
    APPLICATION_COMMAND: "an application command", MESSAGE_COMPONENT: "a message component",
    APPLICATION_COMMAND_AUTOCOMPLETE: "an autocomplete interaction", MODAL_SUBMIT: "a modal submission",
}
# Application command types (slash commands, the context menus of a user and of a message), and
# the option types an autocomplete choice's value must match.
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
STRING_OPTION, INTEGER_OPTION, NUMBER_OPTION = 3, 4, 10
MAX_AUTOCOMPLETE_CHOICES = 25
MAX_CHOICE_NAME = 100
MAX_CHOICE_STRING = 100
MAX_SAFE_INTEGER = 2**53
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
# Follow-ups one interaction may create where only a user's install of the app authorized it
# (the app is not in that server): Discord's limit, error 40094 past it.
USER_INSTALL_FOLLOWUPS = 5
