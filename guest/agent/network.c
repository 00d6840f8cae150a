/*
 * The guest's NIC. The host decides the network identity and passes it on the kernel command
 * line as sm.net=ADDRESS/PREFIX,GATEWAY,DNS (no DHCP: a snapshot restored later has its address
 * and route already, and every restore's NAT on the host answers to the same identity). Without
 * sm.net the VM has no NIC (--network none) and only lo is up.
 *
 * The resolv.conf written here names the NAT's DNS forwarder; like Docker's it belongs to the
 * running guest, so no exported layer carries it (note_agent_file).
 */
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NIC "eth0"
#define PRIVATE_NIC "eth1" /* the second virtio-net: the private network's, down until joined */

struct net_identity { struct in_addr addr, mask, gateway, dns; };

/* Parses "A.B.C.D/N,GW,DNS". Returns 0 when every part is a valid IPv4 address. */
static int parse_identity(const char *text, struct net_identity *id)
{
    char buf[128];
    if (strlen(text) >= sizeof buf) return -1;
    strcpy(buf, text);
    char *gw = strchr(buf, ','), *dns = gw ? strchr(gw + 1, ',') : NULL, *slash = strchr(buf, '/');
    if (!gw || !dns || !slash || slash > gw) return -1;
    *gw++ = 0; *dns++ = 0; *slash++ = 0;
    char *end;
    long prefix = strtol(slash, &end, 10);
    if (*end || prefix < 1 || prefix > 30) return -1;
    id->mask.s_addr = htonl(~0u << (32 - prefix));
    if (inet_pton(AF_INET, buf, &id->addr) != 1 || inet_pton(AF_INET, gw, &id->gateway) != 1 || inet_pton(AF_INET, dns, &id->dns) != 1) return -1;
    return 0;
}

/* The value of sm.net= on /proc/cmdline, or NULL. */
static char *identity_argument(void)
{
    static char cmdline[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
    close(fd);
    if (n <= 0) return NULL;
    cmdline[n] = 0;
    for (char *tok = strtok(cmdline, " \n"); tok; tok = strtok(NULL, " \n"))
        if (strncmp(tok, "sm.net=", 7) == 0) return tok + 7;
    return NULL;
}

static int set_address_of(int s, const char *nic, unsigned long request, struct in_addr a, const char *what)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, nic);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr = a;
    if (ioctl(s, request, &ifr) == 0) return 0;
    logmsg("%s %s: %s", nic, what, strerror(errno));
    return -1;
}

static void set_address(int s, unsigned long request, struct in_addr a, const char *what) { set_address_of(s, NIC, request, a, what); }

static int set_up(int s, const char *nic, int up)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, nic);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return -1;
    if (up) ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    else ifr.ifr_flags &= ~IFF_UP;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static void write_resolv_conf(struct in_addr dns)
{
    char text[64], ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &dns, ip, sizeof ip);
    snprintf(text, sizeof text, "nameserver %s\n", ip);
    /* A symlink (systemd-resolved's stub, say) is replaced rather than followed out of /etc. */
    unlink("/etc/resolv.conf");
    int fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) { logmsg("/etc/resolv.conf: %s", strerror(errno)); return; }
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    close(fd);
    note_agent_file("resolv.conf", text);
}

void network_setup(void)
{
    const char *arg = identity_argument();
    if (!arg) return;
    struct net_identity id;
    if (parse_identity(arg, &id) < 0) { logmsg("sm.net=%s: not ADDRESS/PREFIX,GATEWAY,DNS; no network", arg); return; }
    for (int waited = 0; access("/sys/class/net/" NIC, F_OK) < 0 && waited < 3000; waited += 5) usleep(5000);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) { logmsg("socket: %s", strerror(errno)); return; }
    set_address(s, SIOCSIFADDR, id.addr, "address");
    set_address(s, SIOCSIFNETMASK, id.mask, "netmask");
    if (set_up(s, NIC, 1) < 0) logmsg(NIC " up: %s", strerror(errno));
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst, *gw = (struct sockaddr_in *)&rt.rt_gateway, *mask = (struct sockaddr_in *)&rt.rt_genmask;
    dst->sin_family = gw->sin_family = mask->sin_family = AF_INET;
    gw->sin_addr = id.gateway;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)NIC;
    if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST) logmsg("default route: %s", strerror(errno));
    close(s);
    write_resolv_conf(id.dns);
    logmsg("network %s ready", arg);
}

/* ---------- the private network ---------- */

/*
 * NETWORK: the host's word on the private network, sent after every HELLO (a restored snapshot
 * was baked without knowing which network, address or members it would have). lines[0] is
 * "ADDRESS/PREFIX", or empty to leave; the rest are "ADDRESS NAME..." lines for /etc/hosts. The
 * MAC follows from the address (02:53:4d:01:C:D for A.B.C.D), so every restore of one snapshot
 * gets a distinct one without the host knowing the baked one. Applied before the ack: a workload
 * started after it resolves its peers.
 */
static const char *private_identity(int s, const char *identity)
{
    if (set_up(s, PRIVATE_NIC, 0) < 0) return "no second NIC (the VM was started with --network none)";
    struct in_addr none = { 0 };
    if (!*identity) { set_address_of(s, PRIVATE_NIC, SIOCSIFADDR, none, "address"); return NULL; }
    char buf[32];
    snprintf(buf, sizeof buf, "%s", identity);
    char *slash = strchr(buf, '/'), *end;
    if (!slash) return "identity not ADDRESS/PREFIX";
    *slash++ = 0;
    long prefix = strtol(slash, &end, 10);
    struct in_addr addr, mask = { htonl(~0u << (32 - (prefix >= 1 && prefix <= 30 ? prefix : 30))) };
    if (*end || prefix < 1 || prefix > 30 || inet_pton(AF_INET, buf, &addr) != 1) return "identity not ADDRESS/PREFIX";
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, PRIVATE_NIC);
    const uint8_t *a = (const uint8_t *)&addr.s_addr;
    uint8_t mac[6] = { 0x02, 0x53, 0x4d, 0x01, a[2], a[3] };
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) logmsg(PRIVATE_NIC " mac: %s", strerror(errno));
    if (set_address_of(s, PRIVATE_NIC, SIOCSIFADDR, addr, "address") < 0 || set_address_of(s, PRIVATE_NIC, SIOCSIFNETMASK, mask, "netmask") < 0)
        return "could not set the address";
    if (set_up(s, PRIVATE_NIC, 1) < 0) return "could not bring the NIC up";
    return NULL;
}

/* Checks one "ADDRESS NAME..." line and writes it to out as "ADDRESS\tNAME NAME". */
static int hosts_line(const char *line, char *out, size_t cap)
{
    char buf[512], *save = NULL;
    if (strlen(line) >= sizeof buf || cap < sizeof buf + 2) return -1;
    strcpy(buf, line);
    char *ip = strtok_r(buf, " \t", &save);
    struct in_addr a;
    if (!ip || inet_pton(AF_INET, ip, &a) != 1) return -1;
    int k = snprintf(out, cap, "%s\t", ip), names = 0;
    for (char *name = strtok_r(NULL, " \t", &save); name; name = strtok_r(NULL, " \t", &save)) {
        if (!valid_hostname(name)) return -1;
        k += snprintf(out + k, cap - (size_t)k, "%s%s", names++ ? " " : "", name);
    }
    return names ? 0 : -1;
}

void open_network(uint32_t id, char **lines)
{
    size_t count = list_len(lines);
    char **checked = xrealloc(NULL, count * sizeof *checked);
    size_t kept = 0;
    const char *why = NULL;
    for (size_t i = 1; i < count && !why; i++) {
        char line[520];
        if (hosts_line(lines[i], line, sizeof line) < 0) why = "a hosts line is not ADDRESS NAME...";
        else checked[kept++] = xstrdup(line);
    }
    checked[kept] = NULL;
    if (!why && pid1) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        why = s < 0 ? strerror(errno) : private_identity(s, lines[0]);
        if (s >= 0) close(s);
    }
    if (why) send_error(id, EINVAL, "network %s: %s", lines[0], why);
    else {
        runtime_set_network_hosts(checked);
        logmsg("private network %s", *lines[0] ? lines[0] : "left");
        send_frame(F_OPEN, 0, id, NULL, 0);
        send_exit(id, 0, 0, 0);
    }
    free_list(checked);
}

/* ---------- host ports ---------- */

/*
 * host.supermachine.internal:P reaches the host's 127.0.0.1:P only for the ports the host
 * offers. The guest never names a host port: the host opens HOST_ACCEPT streams for the ports on
 * its allow-list, each stream becomes one guest connection to HOST_ALIAS_ADDR:P, and the host
 * connects that one to 127.0.0.1:P. A port the host does not offer has no listener here (refused).
 */
#define MAX_HOST_PORTS 64

static struct { uint32_t port; int fd; } listeners[MAX_HOST_PORTS];

int host_listener(uint32_t port)
{
    int slot = -1;
    for (int i = 0; i < MAX_HOST_PORTS; i++) {
        if (listeners[i].fd > 0 && listeners[i].port == port) return listeners[i].fd;
        if (listeners[i].fd <= 0 && slot < 0) slot = i;
    }
    if (slot < 0) { errno = EMFILE; return -1; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, HOST_ALIAS_ADDR, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    listeners[slot].port = port;
    listeners[slot].fd = fd;
    return fd;
}

void host_listeners_close(void)
{
    for (int i = 0; i < MAX_HOST_PORTS; i++)
        if (listeners[i].fd > 0) { close(listeners[i].fd); listeners[i].fd = 0; }
}

void open_host_accept(uint32_t id, uint32_t port)
{
    if (host_listener(port) < 0) { send_error(id, errno, "listen on " HOST_ALIAS_ADDR ":%u in the guest: %s", port, strerror(errno)); return; }
    struct stream *s = new_stream(id, K_PORT_FORWARD);
    if (!s) { send_error(id, EMFILE, "too many streams"); return; }
    s->port = port;
    s->accepting = 1;
}

void host_accept_ready(struct stream *s)
{
    int fd = accept4(host_listener(s->port), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* another stream of this port took it */
    s->accepting = 0;
    s->sock = s->in_fd = s->out_fd[0] = fd;
    send_frame(F_OPEN, 0, s->id, NULL, 0);
}
