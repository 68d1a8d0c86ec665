/*
 * ctl_dump: `confabctl dump`, a conversation's messages by seq as JSON
 * lines (the message objects of confab(7), recalled ones as placeholders),
 * from a running node's admin route or from a stopped node's data folder.
 *
 *   dump --conversation ID [--from N] [--to N]
 *        (--cluster FILE --node URL | --data DIR)
 *
 * Offline, the store is opened as the node would open it (its shape read
 * from its manifest), which reads every record once; recalls are taken from
 * the store's recall records. Returns confabctl's exit status: 0, 1 (no
 * such conversation, a read failed), 2 (usage). Threads: main thread only.
 */
#ifndef CTL_DUMP_H
#define CTL_DUMP_H

int ctl_dump(int argc, char **argv);

#endif
