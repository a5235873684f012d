/* One function per subcommand, one file each (cmd_NAME.c). Each receives the
 * arguments after its own name and returns the process exit status. */
#ifndef PLATEAU_COMMANDS_H
#define PLATEAU_COMMANDS_H

int cmd_model(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_study(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_data_bios(int argc, char **argv);
int cmd_data_wordnet(int argc, char **argv);
int cmd_data_sft(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);

/* `plateau data` subcommands (dispatched by cmd_data.c) */
int cmd_data_tokenize(int argc, char **argv);
int cmd_data_corpus(int argc, char **argv);

int cmd_sharpness(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_sft_change(int argc, char **argv);

#endif
