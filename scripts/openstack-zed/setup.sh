#!/usr/bin/env bash
# A real, minimal OpenStack Zed on this machine, from Debian 12's packages: the reference cloud the
# simulator's fidelity fixtures are captured from (scripts/openstack-zed/capture.ts) and a second
# cloud to try the OpenStack driver against. A developer tool: nothing in CI runs it.
#
# What it installs (apt, noninteractive, services never started by the packages):
#   keystone, glance-api, placement-api, nova-api, nova-conductor, nova-scheduler, python3-nova
#   (nova-compute is run from it with the fake virt driver, `fake.FakeDriver`, so no hypervisor),
#   neutron-server with ML2 (flat + vxlan, no agents; a tiny mechanism driver of ours binds every
#   port, since Nova's fake driver plugs nothing), python3-openstackclient, uwsgi.
# What it uses: MariaDB at 127.0.0.1:3306 as root (databases keystone, glance, placement, nova_api,
#   nova, nova_cell0, neutron) and RabbitMQ's vhost `openstack` (user `openstack`), never `/`.
# What listens, all on 127.0.0.1:
#   5000 keystone (uwsgi)   9292 glance-api   8778 placement (uwsgi)   8774 nova-api (uwsgi)   9696 neutron-server
#   plus nova-conductor, nova-scheduler and nova-compute (RabbitMQ only).
# What it makes: admin/secret in project admin (domain Default, region RegionOne), the catalogue
#   (identity, compute, image, placement, network), image `cirros` (a tiny raw file), flavors
#   m1.tiny and m1.small, network `private` with subnet `private-subnet` (10.20.0.0/24).
# Configuration: it writes /etc/{keystone,glance,placement,nova,neutron}/*.conf and ml2_conf.ini
#   (Debian's own are kept beside them as *.debian). Service passwords, logs, pid files, images and
#   the ML2 driver: /var/lib/defib-zed (DEFIB_ZED_HOME). Capture fixtures from it with
#   `node scripts/openstack-zed/capture.ts http://127.0.0.1:5000/v3`.
# The connection details go to $DEFIB_ZED_ENDPOINT_FILE (default $DEFIB_ZED_HOME/endpoint.txt).
#
# Run as root: scripts/openstack-zed/setup.sh   (again at any time: it skips what is done and
# starts what is not running). Stop everything: scripts/openstack-zed/stop.sh
set -euo pipefail

HOME_DIR=${DEFIB_ZED_HOME:-/var/lib/defib-zed}
ENDPOINT_FILE=${DEFIB_ZED_ENDPOINT_FILE:-$HOME_DIR/endpoint.txt}
HERE=$(cd "$(dirname "$0")" && pwd)
DB="mysql -h127.0.0.1 -uroot"
REGION=RegionOne
ADMIN_PASSWORD=secret
KEYSTONE=http://127.0.0.1:5000/v3

log() { printf '\n== %s\n' "$*"; }

install_packages() {
  local packages=(keystone glance-api placement-api nova-api nova-conductor nova-scheduler python3-nova neutron-server neutron-plugin-ml2
    python3-openstackclient python3-pymysql uwsgi-core uwsgi-plugin-python3)
  local missing=()
  for package in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package"); done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  # Debian's maintainer scripts would start every service through invoke-rc.d; there is no init here.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
}

# Service passwords, made once and kept (root-only) with the state.
load_secrets() {
  mkdir -p "$HOME_DIR"/{run,log,images,lock,python}
  chmod 700 "$HOME_DIR"
  if [ ! -f "$HOME_DIR/secrets.env" ]; then
    {
      for name in SERVICE_PASSWORD RABBIT_PASSWORD; do printf '%s=%s\n' "$name" "$(openssl rand -hex 16)"; done
    } >"$HOME_DIR/secrets.env"
    chmod 600 "$HOME_DIR/secrets.env"
  fi
  # shellcheck disable=SC1091
  . "$HOME_DIR/secrets.env"
  TRANSPORT_URL="rabbit://openstack:${RABBIT_PASSWORD}@127.0.0.1:5672/openstack"
}

prepare_backends() {
  log "databases and the RabbitMQ vhost"
  for database in keystone glance placement nova_api nova nova_cell0 neutron; do $DB -e "CREATE DATABASE IF NOT EXISTS $database"; done
  rabbitmqctl list_vhosts -q | grep -qx openstack || rabbitmqctl add_vhost openstack
  if rabbitmqctl list_users -q | grep -q '^openstack\b'; then rabbitmqctl change_password openstack "$RABBIT_PASSWORD" >/dev/null; else rabbitmqctl add_user openstack "$RABBIT_PASSWORD" >/dev/null; fi
  rabbitmqctl set_permissions -p openstack openstack '.*' '.*' '.*' >/dev/null
}

# keystone_authtoken and the service-to-service credential sections all look alike.
auth_section() {
  local section=$1 user=$2
  cat <<EOF
[$section]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $user
password = $SERVICE_PASSWORD
region_name = $REGION
EOF
}

write_configs() {
  log "configuration"
  local original
  for original in /etc/keystone/keystone.conf /etc/glance/glance-api.conf /etc/placement/placement.conf /etc/nova/nova.conf /etc/neutron/neutron.conf /etc/neutron/plugins/ml2/ml2_conf.ini; do
    [ -f "$original" ] && [ ! -f "$original.debian" ] && cp "$original" "$original.debian"
  done

  cat >/etc/keystone/keystone.conf <<EOF
[DEFAULT]
log_file = $HOME_DIR/log/keystone-app.log
[database]
connection = mysql+pymysql://root@127.0.0.1/keystone
[token]
provider = fernet
EOF

  cat >/etc/glance/glance-api.conf <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
enabled_backends = file:file
[database]
connection = mysql+pymysql://root@127.0.0.1/glance
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = $HOME_DIR/images
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $HOME_DIR/lock
$(auth_section keystone_authtoken glance)
EOF

  cat >/etc/placement/placement.conf <<EOF
[api]
auth_strategy = keystone
[placement_database]
connection = mysql+pymysql://root@127.0.0.1/placement
$(auth_section keystone_authtoken placement)
EOF

  cat >/etc/nova/nova.conf <<EOF
[DEFAULT]
transport_url = $TRANSPORT_URL
my_ip = 127.0.0.1
host = zed-compute
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_workers = 1
state_path = $HOME_DIR/nova
instances_path = $HOME_DIR/nova/instances
use_rootwrap_daemon = false
[api]
auth_strategy = keystone
[api_database]
connection = mysql+pymysql://root@127.0.0.1/nova_api
[database]
connection = mysql+pymysql://root@127.0.0.1/nova
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 10
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[glance]
region_name = $REGION
[oslo_concurrency]
lock_path = $HOME_DIR/lock
[vnc]
enabled = false
[compute]
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
$(auth_section keystone_authtoken nova)
$(auth_section placement placement)
$(auth_section neutron neutron)
$(auth_section service_user nova)
send_service_user_token = false
EOF

  cat >/etc/neutron/neutron.conf <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9696
core_plugin = ml2
service_plugins =
auth_strategy = keystone
transport_url = $TRANSPORT_URL
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_paste_config = /etc/neutron/api-paste.ini
state_path = $HOME_DIR/neutron
[database]
connection = mysql+pymysql://root@127.0.0.1/neutron
[oslo_concurrency]
lock_path = $HOME_DIR/lock
$(auth_section keystone_authtoken neutron)
$(auth_section nova nova)
EOF

  mkdir -p /etc/neutron/plugins/ml2
  cat >/etc/neutron/plugins/ml2/ml2_conf.ini <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = defib_bind_all
extension_drivers = port_security
[ml2_type_flat]
flat_networks = physnet1
[ml2_type_vxlan]
vni_ranges = 1:1000
EOF

  # The mechanism driver is found through an entry point, so it comes with a dist-info of its own.
  local python=$HOME_DIR/python
  mkdir -p "$python/defib_ml2" "$python/defib_ml2-1.0.dist-info"
  cp "$HERE/defib_ml2.py" "$python/defib_ml2/__init__.py"
  printf 'Metadata-Version: 2.1\nName: defib-ml2\nVersion: 1.0\n' >"$python/defib_ml2-1.0.dist-info/METADATA"
  printf '[neutron.ml2.mechanism_drivers]\ndefib_bind_all = defib_ml2:BindEveryPort\n' >"$python/defib_ml2-1.0.dist-info/entry_points.txt"
  mkdir -p "$HOME_DIR/nova/instances" "$HOME_DIR/neutron"
}

sync_databases() {
  log "database schemas"
  keystone-manage db_sync
  keystone-manage fernet_setup --keystone-user root --keystone-group root
  keystone-manage credential_setup --keystone-user root --keystone-group root
  keystone-manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin --bootstrap-project-name admin \
    --bootstrap-role-name admin --bootstrap-service-name keystone --bootstrap-region-id "$REGION" \
    --bootstrap-admin-url http://127.0.0.1:5000/v3/ --bootstrap-internal-url http://127.0.0.1:5000/v3/ --bootstrap-public-url http://127.0.0.1:5000/v3/
  glance-manage db_sync >/dev/null
  placement-manage db sync
  nova-manage api_db sync
  nova-manage cell_v2 list_cells 2>/dev/null | grep -q ' cell0 ' || nova-manage cell_v2 map_cell0
  nova-manage cell_v2 list_cells 2>/dev/null | grep -q ' cell1 ' || nova-manage cell_v2 create_cell --name=cell1
  nova-manage db sync
  PYTHONPATH=$HOME_DIR/python neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
}

running() { [ -f "$HOME_DIR/run/$1.pid" ] && kill -0 "$(cat "$HOME_DIR/run/$1.pid")" 2>/dev/null; }

# Starts one service in its own session (so stop.sh can end the whole group), once.
launch() {
  local name=$1
  shift
  if running "$name"; then return; fi
  setsid "$@" >>"$HOME_DIR/log/$name.log" 2>&1 </dev/null &
  echo $! >"$HOME_DIR/run/$name.pid"
  echo "started $name (pid $!, log $HOME_DIR/log/$name.log)"
}

uwsgi_app() {
  local name=$1 port=$2 script=$3
  launch "$name" uwsgi-core --plugin python3 --http-socket "127.0.0.1:$port" --wsgi-file "$script" --master --processes 1 --threads 4 \
    --die-on-term --lazy-apps --buffer-size 65535 --add-header 'Connection: close' --hook-master-start 'unix_signal:15 gracefully_kill_them_all'
}

wait_for() {
  local what=$1 url=$2
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$url"; then return; fi
    sleep 1
  done
  echo "$what did not answer at $url; see $HOME_DIR/log" >&2
  exit 1
}

start_keystone() {
  log "keystone"
  uwsgi_app keystone 5000 /usr/bin/keystone-wsgi-public
  wait_for keystone http://127.0.0.1:5000/v3
}

# After register_services: every service authenticates as its own user when it starts.
start_services() {
  log "services"
  uwsgi_app placement 8778 /usr/bin/placement-api
  launch glance-api glance-api --config-file /etc/glance/glance-api.conf
  launch neutron-server env PYTHONPATH="$HOME_DIR/python" neutron-server --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
  uwsgi_app nova-api 8774 /usr/bin/nova-api-wsgi
  launch nova-conductor nova-conductor --config-file /etc/nova/nova.conf
  launch nova-scheduler nova-scheduler --config-file /etc/nova/nova.conf
  launch nova-compute /usr/bin/python3 -c 'import sys; from nova.cmd.compute import main; sys.argv[0] = "nova-compute"; sys.exit(main())' --config-file /etc/nova/nova.conf
}

as_admin() {
  export OS_AUTH_URL=$KEYSTONE OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASSWORD OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
    OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=$REGION OS_IDENTITY_API_VERSION=3
}

register_services() {
  log "service users and the catalogue"
  as_admin
  openstack project create --or-show --domain Default service -f value -c id >/dev/null
  local user
  for user in glance placement nova neutron; do
    openstack user create --or-show --domain Default --password "$SERVICE_PASSWORD" "$user" -f value -c id >/dev/null
    # Setting a password revokes the user's tokens, which running services hold: only when it is not the one kept.
    if ! OS_USERNAME=$user OS_PASSWORD=$SERVICE_PASSWORD OS_PROJECT_NAME=service openstack token issue >/dev/null 2>&1; then
      openstack user set --password "$SERVICE_PASSWORD" "$user"
    fi
    openstack role add --project service --user "$user" admin
  done
  local type name url existing
  while read -r type name url; do
    openstack service show "$type" >/dev/null 2>&1 || openstack service create --name "$name" "$type" >/dev/null
    existing=$(openstack endpoint list --service "$type" -f value -c Interface)
    for face in public internal admin; do
      grep -qx "$face" <<<"$existing" || openstack endpoint create --region "$REGION" "$type" "$face" "$url" >/dev/null
    done
  done <<EOF
image glance http://127.0.0.1:9292
placement placement http://127.0.0.1:8778
compute nova http://127.0.0.1:8774/v2.1
network neutron http://127.0.0.1:9696
EOF
}

populate() {
  log "image, flavors, network"
  as_admin
  wait_for glance http://127.0.0.1:9292/
  wait_for neutron http://127.0.0.1:9696/
  wait_for nova http://127.0.0.1:8774/
  if ! openstack image show cirros >/dev/null 2>&1; then
    head -c 1048576 /dev/zero >"$HOME_DIR/cirros.raw"
    openstack image create --disk-format raw --container-format bare --public --file "$HOME_DIR/cirros.raw" cirros >/dev/null
  fi
  openstack flavor show m1.tiny >/dev/null 2>&1 || openstack flavor create --id 1 --vcpus 1 --ram 512 --disk 1 m1.tiny >/dev/null
  openstack flavor show m1.small >/dev/null 2>&1 || openstack flavor create --id 2 --vcpus 1 --ram 2048 --disk 20 m1.small >/dev/null
  openstack network show private >/dev/null 2>&1 || openstack network create private >/dev/null
  openstack subnet show private-subnet >/dev/null 2>&1 || openstack subnet create --network private --subnet-range 10.20.0.0/24 private-subnet >/dev/null
  # The compute service registers itself; the scheduler maps it into cell1 (discover_hosts_in_cells_interval).
  for _ in $(seq 1 60); do
    if openstack hypervisor list -f value -c 'Hypervisor Hostname' | grep -q .; then break; fi
    sleep 2
  done
  nova-manage cell_v2 discover_hosts >/dev/null
}

write_endpoint_file() {
  cat >"$ENDPOINT_FILE" <<EOF
# A real OpenStack Zed (Debian 12 packages) on this machine, set up by scripts/openstack-zed/setup.sh;
# stop it with scripts/openstack-zed/stop.sh. Nova runs the fake virt driver: servers reach ACTIVE
# within seconds and nothing boots.
authUrl=$KEYSTONE
user=admin
password=$ADMIN_PASSWORD
project=admin
domain=Default
region=$REGION
network=private
image=cirros
flavors=m1.tiny,m1.small
compute=http://127.0.0.1:8774/v2.1
image_api=http://127.0.0.1:9292
network_api=http://127.0.0.1:9696
EOF
  echo "connection details in $ENDPOINT_FILE"
}

install_packages
load_secrets
prepare_backends
write_configs
sync_databases
start_keystone
register_services
start_services
populate
write_endpoint_file
