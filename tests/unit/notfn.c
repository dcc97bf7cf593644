/* A shared object that is not a Citadel function (test_elfcheck). */
int not_a_handler(void);

int not_a_handler(void)
{
	return 0;
}
