--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Drop databases (except postgres and template1)
--

DROP DATABASE service_db;




--
-- Drop roles
--

DROP ROLE postgres;
DROP ROLE service_account;
DROP ROLE standby;


--
-- Roles
--

CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'md5f8f0ca0fa5f4b37a89936c91cd575184';
CREATE ROLE service_account;
ALTER ROLE service_account WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'md5322c9c198b255b16022899fe2cc4943f';
CREATE ROLE standby;
ALTER ROLE standby WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS PASSWORD 'md56e21279576e159ee7f1299c037f90d48';






\connect template1

--
-- PostgreSQL database dump
--

-- Dumped from database version 14.5 (Ubuntu 14.5-2.pgdg18.04+1)
-- Dumped by pg_dump version 14.5 (Ubuntu 14.5-2.pgdg18.04+1)

SET statement_timeout = 0;
SET lock_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

DROP DATABASE postgres;
--
-- Name: postgres; Type: DATABASE; Schema: -; Owner: postgres
--

CREATE DATABASE postgres WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE postgres OWNER TO postgres;

\connect postgres

SET statement_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

--
-- Name: service_db; Type: DATABASE; Schema: -; Owner: service_account
--

CREATE DATABASE service_db WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE service_db OWNER TO service_account;

\connect service_db

SET statement_timeout = 0;
SET default_tablespace = '';

--
-- Name: realm; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.realm (
    id character varying(36) NOT NULL,
    name text,
    enabled text,
    ssl_required text,
    access_token_lifespan text
);


ALTER TABLE public.realm OWNER TO service_account;

--
-- Name: client; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.client (
    id character varying(36) NOT NULL,
    client_id text,
    realm_id text,
    enabled text,
    public_client text,
    secret text
);


ALTER TABLE public.client OWNER TO service_account;

--
-- Name: user_entity; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.user_entity (
    id character varying(36) NOT NULL,
    username text,
    email text,
    first_name text,
    last_name text,
    realm_id text,
    enabled text,
    created_timestamp text
);


ALTER TABLE public.user_entity OWNER TO service_account;

--
-- Name: credential; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.credential (
    id character varying(36) NOT NULL,
    user_id text,
    type text,
    secret_data text,
    credential_data text,
    created_date text
);


ALTER TABLE public.credential OWNER TO service_account;

--
-- Name: event_entity; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.event_entity (
    id character varying(36) NOT NULL,
    client_id text,
    details_json text,
    error text,
    ip_address text,
    realm_id text,
    session_id text,
    event_time text,
    type text,
    user_id text
);


ALTER TABLE public.event_entity OWNER TO service_account;

--
-- Data for Name: realm; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.realm (id, name, enabled, ssl_required, access_token_lifespan) FROM stdin;
master	master	t	external	60
shasta	shasta	t	none	300
\.


--
-- Data for Name: client; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.client (id, client_id, realm_id, enabled, public_client, secret) FROM stdin;
c1	shasta	shasta	t	f	\N
c2	admin-client	shasta	t	f	\N
c3	gatekeeper	shasta	t	f	\N
\.


--
-- Data for Name: user_entity; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.user_entity (id, username, email, first_name, last_name, realm_id, enabled, created_timestamp) FROM stdin;
u1	user0001	user1@example.com	First1	Last1	shasta	t	1600000001000
u2	user0002	user2@example.com	First2	Last2	shasta	t	1600000002000
u3	us