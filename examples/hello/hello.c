/* hello: prints /greeting.txt, then lists / (sorted by the host as it likes; wasifs sorts by name). */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

int main(void) {
    FILE *f = fopen("/greeting.txt", "r");
    if (!f) {
        perror("/greeting.txt");
        return 1;
    }
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);

    DIR *d = opendir("/");
    if (!d) {
        perror("/");
        return 1;
    }
    printf("contents of /:\n");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        struct stat st;
        snprintf(path, sizeof path, "/%s", e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            printf("  %s/\n", e->d_name);
        else
            printf("  %s (%lld bytes)\n", e->d_name, (long long)st.st_size);
    }
    closedir(d);
    return 0;
}
