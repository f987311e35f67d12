/* Linked with one whole layer library and only the layers it may use (see
 * CMakeLists.txt): a call from that layer into a higher one is an undefined
 * name here, and the build fails. */
int main(void)
{
	return 0;
}
