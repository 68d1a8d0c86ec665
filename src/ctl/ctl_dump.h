/*
 * ctl_dump: `confabctl dump`, a conversation's messages by seq as JSON
 * lines (the message objects of confab(7), recalled ones as placeholders),
 * from a running node's admin route or from a stopped node's data folder.
 *
 *   dump --conversation ID [--from N] [--to N]
 *        (--cluster FILE --node URL | --data DIR)
 *
 * Offline, nothing is changed: the files are read as confabctl inspect
 * reads them (log_walk), and what is printed is what a start would keep:
 * the manifest's cold files and hot segments up to their checkpointed
 * length, of the conversation's partition only (cold files: only the
 * blocks that hold it); recalls are taken from the recall records and
 * from messages compaction erased. The range is collected in memory, then
 * sorted by seq. Returns confabctl's exit status: 0, 1 (no
 * such conversation, a read failed), 2 (usage). Threads: main thread only.
 */
#ifndef CTL_DUMP_H
#define CTL_DUMP_H

int ctl_dump(int argc, char **argv);

#endif
